"""Real runs to report on (the build on the real WARCs, and the whole pipeline after it) and headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
TOKENIZER = "tokenizers/dolma_test_tokenizers/gpt-neo-test-tokenizer.json"


@dataclass
class Rendered:
    dom: str
    console: list[str]
    screenshot: Path


def _chromium(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={work / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="session")
def chromium():
    """``render(html, work_dir) -> Rendered``: the DOM after load, console messages, a 1280x4000 screenshot."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: run tests/report/install_chromium.sh (make test does)")

    def render(html: Path, work: Path) -> Rendered:
        work.mkdir(parents=True, exist_ok=True)
        dumped = _chromium(work, "--enable-logging=stderr", "--v=0", "--dump-dom", html.resolve().as_uri())
        assert dumped.returncode == 0, dumped.stderr[-2000:]
        console = [line for line in dumped.stderr.splitlines() if ":CONSOLE" in line]
        shot = work / "screenshot.png"
        _chromium(work, f"--screenshot={shot}", "--window-size=1280,4000", html.resolve().as_uri())
        return Rendered(dumped.stdout, console, shot)

    return render


@pytest.fixture(scope="session")
def build_run(tmp_path_factory: pytest.TempPathFactory, warc_dir: Path) -> Path:
    """`curation build` on every real WARC (pt, en, es kept; rejected documents saved), in-process executor."""
    from curation.builder.stage import Build

    out = tmp_path_factory.mktemp("report-run") / "build"
    Build.call(
        lang=["pt", "en", "es"], input=[str(warc_dir)], output=str(out), executor="local", keep_rejected=True
    )
    return out


@pytest.fixture(scope="session")
def full_run(tmp_path_factory: pytest.TempPathFactory, build_run: Path, data_dir: Path) -> Path:
    """The whole pipeline on real data, in-process: build, dedup, classifier + score + filter, mix, pack, a tiny
    train (the CLI of each stage is tested with the stage)."""
    from curation.dedup.stage import Dedup
    from curation.filters.score import Score
    from curation.filters.training import ClassifierTrain
    from curation.filters.where import Filter
    from curation.mixer.manifest import Mix
    from curation.mixer.pack import Pack
    from curation.train.run import Train

    root = tmp_path_factory.mktemp("report-full")
    shutil.copytree(build_run, root / "build", ignore=shutil.ignore_patterns("report"))
    kept = [
        str(p)
        for p in sorted((root / "build").iterdir())
        if p.is_dir() and p.name not in ("_run", "rejected")
    ]
    Dedup.call(input=kept, output=str(root / "dedup"), write_removed=True, executor="local")
    clf = tmp_path_factory.mktemp("classifier") / "edu"
    labels = data_dir / "labels/web_docs_llm_judged.jsonl"
    ClassifierTrain.call(task="edu", data=str(labels), label_column="edu", backend="tfidf", output=str(clf))
    deduped = [str(root / "dedup" / Path(d).name) for d in kept]
    Score.call(input=deduped, classifier=[str(clf)], executor="local", output=str(root / "score"))
    Filter.call(input=[str(root / "score")], where="edu_score >= 1.5", output=str(root / "filter"))
    Mix.call(
        tokenizer=str(data_dir / TOKENIZER),
        seq_len=64,
        total_tokens=8192,
        seed=0,
        executor="local",
        sources={
            "web": {"paths": [str(root / "filter")], "filter": "n_words >= 100", "weight": 0.5},
            "pt_books": {"paths": [str(data_dir / "text/pt/machado_de_assis/a-c*.txt")], "weight": 0.3},
            "en_replay": {"paths": [str(data_dir / "text/en/nltk/inaugural/17*.txt")], "weight": 0.2},
        },
        output=str(root / "mix"),
    )
    Pack.call(manifest=str(root / "mix"), output=str(root / "pack"), executor="local")
    Train.call(
        data=str(root / "pack"),
        output=str(root / "train"),
        device="cpu",
        export=False,
        model={
            "config": {
                "model_type": "llama",
                "hidden_size": 64,
                "intermediate_size": 128,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 4,
                "max_position_embeddings": 256,
                "tie_word_embeddings": True,
            }
        },
        max_steps=8,
        global_batch_tokens=512,
        micro_batch_size=4,
        schedule={"kind": "cosine", "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 2},
        eval={
            "every_steps": 4,
            "max_bytes_per_set": 8000,
            "sets": {
                "pt": [str(data_dir / "text/pt/machado_de_assis/viver_2.txt")],
                "en": [str(data_dir / "text/en/nltk/inaugural/2009-Obama.txt")],
            },
        },
    )
    return root
