"""Configs that cannot work fail early with a one-line CurationError naming the cause."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from curation.core.errors import CurationError
from curation.train.config import TINY_LLAMA
from tests.train.conftest import SEQ_LEN, en_files, pack, tiny_config, train


def fails(cfg: dict, match: str) -> str:
    with pytest.raises(CurationError, match=match) as info:
        train(cfg)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_packed_data(tmp_path: Path) -> None:
    fails(tiny_config(tmp_path / "nowhere", tmp_path / "out"), "packed data not found")


def test_sequence_longer_than_the_model_allows(packed: Path, tmp_path: Path) -> None:
    model = {"config": {**TINY_LLAMA, "max_position_embeddings": SEQ_LEN // 2}}
    fails(
        tiny_config(packed, tmp_path, model=model), f"seq_len {SEQ_LEN} exceeds .*max_position_embeddings 32"
    )


def test_wrong_tokenizer_for_the_packed_data(
    packed: Path, other_tokenizer_json: Path, data_dir: Path, tmp_path: Path
) -> None:
    """A model exported with one tokenizer cannot train on data packed with another (fingerprint check)."""
    base = train(tiny_config(packed, tmp_path / "base", max_steps=1))
    other = pack(
        tmp_path / "other",
        other_tokenizer_json,
        {"en": {"paths": [str(p) for p in en_files(data_dir)[:4]], "weight": 1.0}},
        64 * SEQ_LEN,
    )
    cfg = tiny_config(other, tmp_path / "cpt", model={"name_or_path": base["export"]})
    fails(cfg, "wrong tokenizer")


def test_model_with_too_few_embeddings(packed: Path, tmp_path: Path) -> None:
    fails(
        tiny_config(packed, tmp_path, model={"config": {**TINY_LLAMA, "vocab_size": 100}}), "token embeddings"
    )


def test_global_batch_not_a_multiple_of_the_micro_batch(packed: Path, tmp_path: Path) -> None:
    fails(tiny_config(packed, tmp_path, global_batch_tokens=3 * SEQ_LEN), "global_batch_tokens")


def test_output_with_checkpoints_needs_resume(packed: Path, tmp_path: Path) -> None:
    train(tiny_config(packed, tmp_path, max_steps=2))
    fails(tiny_config(packed, tmp_path, max_steps=2), "--resume")


def test_missing_eval_file(packed: Path, tmp_path: Path) -> None:
    fails(
        tiny_config(packed, tmp_path, eval={"sets": {"pt": [str(tmp_path / "missing" / "*.txt")]}}),
        "matches no file",
    )


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"max_step": 3}, "max_step"),
        ({"max_steps": 0}, "max_steps"),
        ({"model": {}}, "model"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_invalid_keys_are_named(packed: Path, tmp_path: Path, override: dict, key: str) -> None:
    fails(tiny_config(packed, tmp_path, **override), f"invalid config key '{key}")


def test_cli_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("model: {config: {hidden_size: 64}}\nmax_steps: 5\nglobal_batch_tokens: 512\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "curation.cli",
            "train",
            "--config",
            str(config),
            "--data",
            str(tmp_path / "none"),
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "packed data not found" in proc.stderr


def test_missing_model_directory(packed: Path, tmp_path: Path) -> None:
    fails(tiny_config(packed, tmp_path, model={"name_or_path": str(tmp_path / "no-model")}), "not found")


def test_resume_with_another_batch_layout(packed: Path, tmp_path: Path) -> None:
    train(tiny_config(packed, tmp_path, max_steps=4, stop_after_steps=2))
    fails(
        tiny_config(packed, tmp_path, max_steps=4, resume=True, global_batch_tokens=16 * SEQ_LEN),
        "data position",
    )
