"""Fixtures for train tests: a small BPE tokenizer trained on the real texts, packed mixtures built with the
mixer's own API (`curation mix` + `curation pack`), and the tiny Llama config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from curation.mixer.tokenizer import train_bpe
from curation.train.config import TINY_LLAMA

SEQ_LEN = 64


def pt_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "text" / "pt" / "machado_de_assis").glob("*.txt"))


def en_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "text" / "en" / "nltk" / "state_union").glob("*.txt"))


def read(paths: list[Path]) -> list[str]:
    return [p.read_text(encoding="utf-8", errors="replace") for p in paths]


@pytest.fixture(scope="session")
def tokenizer_json(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    texts = read(pt_files(data_dir)[:30] + en_files(data_dir)[:15])
    return Path(train_bpe(texts, 512, tmp_path_factory.mktemp("tok") / "bpe512.json"))


@pytest.fixture(scope="session")
def other_tokenizer_json(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A different tokenizer (English only, other vocabulary): packed data made with it is 'wrong' for models
    exported with :func:`tokenizer_json`."""
    return Path(
        train_bpe(read(en_files(data_dir)[:15]), 384, tmp_path_factory.mktemp("tok2") / "bpe384.json")
    )


def pack(
    out: Path, tokenizer: Path, sources: dict[str, dict[str, Any]], total_tokens: int, seq_len: int = SEQ_LEN
) -> Path:
    """Plan and pack a mixture with the mixer (in-process, local executor); returns the packed directory."""
    from curation.mixer.manifest import Mix
    from curation.mixer.pack import Pack

    Mix.call(
        tokenizer=str(tokenizer),
        seq_len=seq_len,
        total_tokens=total_tokens,
        seed=0,
        sources=sources,
        executor="local",
        output=str(out / "mix"),
    )
    Pack.call(manifest=str(out / "mix"), output=str(out / "packed"), executor="local")
    return out / "packed"


@pytest.fixture(scope="session")
def packed(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, tokenizer_json: Path) -> Path:
    """Portuguese (70%) + English replay (30%), 640 sequences of 64 tokens."""
    sources = {
        "pt": {"paths": [str(p) for p in pt_files(data_dir)[:30]], "weight": 0.7},
        "en": {"paths": [str(p) for p in en_files(data_dir)[:15]], "weight": 0.3},
    }
    return pack(tmp_path_factory.mktemp("mix"), tokenizer_json, sources, total_tokens=640 * SEQ_LEN)


@pytest.fixture(scope="session")
def eval_sets(data_dir: Path) -> dict[str, list[str]]:
    """Held-out text: Portuguese works and English speeches not in the packed mixture."""
    return {"pt": [str(p) for p in pt_files(data_dir)[-3:]], "en": [str(en_files(data_dir)[-1])]}


def train(cfg: dict[str, Any]) -> dict[str, Any]:
    """`curation train` in-process (``Train.call``); returns the run's summary (``stats.json["summary"]``)."""
    from curation.train.run import Train

    return Train.call(**cfg)["summary"]


def losses(output: str | Path) -> list[float]:
    """Per-step training losses of a run, from its ``metrics.jsonl`` (every step: ``log_every_steps`` 1)."""
    from curation.train.metrics import read_metrics

    return [r["loss"] for r in read_metrics(Path(output) / "metrics.jsonl") if "loss" in r]


def tiny_config(packed: Path, output: Path, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "data": str(packed),
        "output": str(output),
        "model": {"config": dict(TINY_LLAMA)},
        "max_steps": 20,
        "global_batch_tokens": 8 * SEQ_LEN,
        "micro_batch_size": 4,
        "schedule": {"kind": "cosine", "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 4},
        "device": "cpu",
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)
