"""Fixtures for train tests: a small BPE tokenizer trained on the real texts, packed mixtures built with the
mixer's own API (`curation mix` + `curation pack`), and the tiny Llama config."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

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


def train_command(cfg: dict[str, Any], tmp_path: Path, nproc: int | None = None) -> list[str]:
    """`curation train --config` on ``cfg`` (written beside ``tmp_path``), under torchrun with ``nproc``
    ranks (gloo on CPU) when given."""
    config = tmp_path / f"{Path(cfg['output']).name}.yaml"
    config.write_text(yaml.safe_dump(cfg))
    launcher = (
        ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)] if nproc else []
    )
    return [sys.executable, *launcher, "-m", "curation.cli", "train", "--config", str(config)]


def start(command: list[str], gpu: bool = False, **kwargs: Any) -> subprocess.Popen:
    """In a session of its own, so that a kill reaches torchrun and all its workers; GPUs hidden unless
    ``gpu``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **({} if gpu else {"CUDA_VISIBLE_DEVICES": ""})}
    return subprocess.Popen(command, env=env, text=True, start_new_session=True, **kwargs)


def torchrun(cfg: dict[str, Any], tmp_path: Path, nproc: int = 2, gpu: bool = False) -> list[dict[str, Any]]:
    """Run `curation train` under torchrun to the end; returns the run's metrics records."""
    from curation.train.metrics import read_metrics

    proc = start(train_command(cfg, tmp_path, nproc), gpu, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 0, stderr[-3000:]
    return read_metrics(Path(cfg["output"]) / "metrics.jsonl")


def logged_steps(output: str | Path) -> int:
    path = Path(output) / "metrics.jsonl"
    return path.read_text().count('"loss"') if path.exists() else 0


def kill_during(
    cfg: dict[str, Any], tmp_path: Path, at_step: int, delay: float, nproc: int | None = None
) -> int:
    """Start `curation train`, SIGKILL it (and, under torchrun, its workers) ``delay`` seconds after it logs
    step ``at_step``; returns the steps it had logged when it died."""
    proc = start(train_command(cfg, tmp_path, nproc), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while logged_steps(cfg["output"]) < at_step:
            assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before step {at_step}"
            assert time.monotonic() < deadline, "timed out waiting for the run"
            time.sleep(0.002)
        time.sleep(delay)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return logged_steps(cfg["output"])


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)
