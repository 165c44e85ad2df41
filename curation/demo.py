"""`make demo`: the whole product on the real sample data in ../shared/data, in a few minutes on 2 CPU cores.

1. build    the real WARCs -> Portuguese Parquet shards (extraction, LID, heuristics), rejected docs kept
2. score    an edu classifier trained on the LLM-judged labels + the LDNOOBW bad-word signal, as columns
3. dedup    exact + URL + MinHash across the shards
4. a byte-level BPE tokenizer for English and Portuguese, trained on the training halves of the text folders
5. base     no pretrained LLM is available offline: a tiny Llama is trained on English only (the "English base")
6. cpt      the base is continued on Portuguese (text/pt + the built shards) twice: without and with 25%
            English replay, same steps and schedule
7. a table of held-out Portuguese and English bits per byte before and after each run
8. a small data ablation: the evaluation sets (`curation evalsets`), then the 1m proxy trained from scratch
   on Portuguese only and on Portuguese + 25% English, at equal tokens, 2 seeds each (`curation ablate`),
   with its table of differences and whether they exceed seed noise; and the report.

Every stage runs through the same `curation` CLI a user would type, into one run directory (``demo-out/``).
Set CURATION_DATA (or --data) to point at the data elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field
from rich.table import Table

from curation.core.config import RUNTIME, StageConfig
from curation.core.errors import CurationError
from curation.core.stage import Run, Stage
from curation.core.stage import stderr as console
from curation.train.evaluation.heldout import default_data_dir, prose_split

SEQ_LEN = 128
BATCH_SEQUENCES = 16
ABLATION_SEEDS = [0, 1]
ABLATION_EXAMPLES = 100  # per task
BASE_MODEL = {  # the tiny Llama of the English base
    "model_type": "llama",
    "hidden_size": 128,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": SEQ_LEN,
    "tie_word_embeddings": True,
}
BASE_LR, CPT_LR = 3e-3, 1e-3


class DemoConfig(StageConfig):
    """The whole product end to end on the sample data, in a few minutes on 2 CPU cores."""

    output: str = Field(
        "demo-out", description="Run directory of the demo.", json_schema_extra={"short": "-o"}
    )
    data: str = Field(
        default_factory=default_data_dir, description="The sample data (default: $CURATION_DATA)."
    )
    lang: str = Field("pt", description="Target language.")
    base_steps: int = Field(400, gt=0, description="Steps of the English base model.")
    cpt_steps: int = Field(200, gt=0, description="Steps of each continued-pretraining run.")
    ablation_steps: int = Field(50, gt=0, description="Steps of each ablation job.")
    fresh: bool = Field(False, description="Delete the output directory first.", json_schema_extra=RUNTIME)


def curation(*args: str) -> None:
    """Run one `curation` command as a user would; stop the demo if it fails."""
    console.rule(f"[bold]curation {args[0]}")
    console.print(" ".join(["curation", *args]), style="dim", soft_wrap=True)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "curation.cli", *args])
    if proc.returncode != 0:
        raise CurationError(f"`curation {' '.join(args[:2])}` failed with exit code {proc.returncode}")
    console.print(f"[green]done[/green] in {time.perf_counter() - start:.1f}s")


def write_yaml(path: Path, data: dict[str, Any]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


class Texts:
    """Train/held-out split of the plain-text folders (by file, so held-out text is never seen): the held-out
    prose of ``curation.train.evaluation.heldout``."""

    def __init__(self, data: Path) -> None:
        self.pt_train, self.pt_heldout = prose_split(data, "pt")
        sotu_train, self.en_heldout = prose_split(data, "en")
        self.en_train = sotu_train + sorted((data / "text" / "en" / "nltk" / "inaugural").glob("*.txt"))
        self.en_train += sorted((data / "text" / "en" / "cc_en_head").glob("*.jsonl*"))


def train_tokenizer(files: list[Path], path: Path, vocab_size: int = 4096) -> str:
    """A byte-level BPE trained on the ``.txt`` files (the demo: English and Portuguese, the stand-in for the
    base model's tokenizer)."""
    from curation.mixer.tokenizer import train_bpe

    if path.exists():
        return str(path)
    console.rule("[bold]tokenizer")
    files = [p for p in files if p.suffix == ".txt"]
    train_bpe((p.read_text(encoding="utf-8", errors="replace") for p in files), vocab_size, path)
    console.print(f"BPE with {vocab_size} tokens trained on {len(files)} files -> {path}")
    return str(path)


def mix_and_pack(
    out: Path, name: str, tokenizer: str, sources: dict[str, Any], total_tokens: int, seed: int = 0
) -> str:
    spec = {
        "tokenizer": tokenizer,
        "seq_len": SEQ_LEN,
        "total_tokens": total_tokens,
        "seed": seed,
        "allow_renormalize": True,
        "sources": sources,
    }
    spec_path = write_yaml(out / "configs" / f"mix-{name}.yaml", spec)
    curation("mix", "--spec", spec_path, "--output", str(out / f"mix-{name}"))
    curation("pack", "--manifest", str(out / f"mix-{name}"), "--output", str(out / f"pack-{name}"))
    return str(out / f"pack-{name}")


def eval_config(texts: Texts, every_steps: int) -> dict[str, Any]:
    """Held-out Portuguese and English bits per byte every ``every_steps`` (and before and after)."""
    return {
        "every_steps": every_steps,
        "max_bytes_per_set": 120_000,
        "sets": {"pt": [str(p) for p in texts.pt_heldout], "en": [str(p) for p in texts.en_heldout]},
    }


def train_run(
    out: Path, name: str, data: str, model: dict[str, Any], steps: int, lr: float, texts: Texts, **extra: Any
) -> dict:
    """`curation train` with the demo's batch, schedule and held-out evaluation; ``extra`` adds config keys."""
    config = {
        "data": data,
        "output": str(out / f"train-{name}"),
        "model": model,
        "max_steps": steps,
        "global_batch_tokens": SEQ_LEN * BATCH_SEQUENCES,
        "micro_batch_size": BATCH_SEQUENCES,
        "schedule": {"kind": "cosine", "lr": lr, "min_lr": lr / 10, "warmup_steps": max(steps // 20, 1)},
        "eval": eval_config(texts, max(steps // 4, 1)),
        "device": "cpu",
        **extra,
    }
    path = write_yaml(out / "configs" / f"train-{name}.yaml", config)
    curation("train", "--config", path)
    return json.loads((out / f"train-{name}" / "_run" / "stats.json").read_text())["summary"]


def bpb(summary: dict, when: str) -> dict[str, float]:
    """Held-out bits per byte by eval-set name, before or after a training run."""
    return summary[f"eval_bpb_{when}"]


class Demo(Stage[DemoConfig]):
    """The whole product end to end on the sample data: build, score, dedup, tokenizer, English base, CPT
    without and with English replay, a bits-per-byte table and the run report."""

    name = "demo"
    config_model = DemoConfig

    def __init__(self, cfg: DemoConfig) -> None:
        super().__init__(cfg)
        if cfg.fresh:
            shutil.rmtree(cfg.output, ignore_errors=True)

    def run(self, run: Run) -> dict[str, Any]:
        data = Path(self.cfg.data)
        if not data.is_dir():
            raise CurationError(f"sample data not found at {data} (set CURATION_DATA or --data)")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault(
            "OMP_NUM_THREADS", "1"
        )  # a tiny model: threads only contend on a 2-core machine
        return run_demo(self.cfg, data, Path(self.cfg.output).resolve())

    def render(self, stats: dict[str, Any]) -> Any:
        from rich.console import Group

        from curation.ablate.results import result_tables
        from curation.mixer.manifest import table

        s = stats["summary"]
        ablation = [
            table(f"ablation: {title}", head, rows) for title, head, rows in result_tables(s["ablation"])
        ]
        return Group(bpb_table(s["base"], s["runs"]), *ablation)


def run_demo(cfg: DemoConfig, data: Path, out: Path) -> dict[str, Any]:
    texts = Texts(data)

    build_args = [
        "build",
        "--lang",
        cfg.lang,
        "--output",
        str(out / "build"),
        "--keep-rejected",
        "--workers",
        "2",
    ]
    for warc in sorted((data / "warc").glob("*.warc.gz")):
        build_args += ["--input", str(warc)]
    curation(*build_args)

    edu_model = out / "models" / "edu"
    if not (edu_model / "classifier.json").exists():
        curation(
            "classifier",
            "train",
            "--task",
            "edu",
            "--data",
            str(data / "labels" / "web_docs_llm_judged.jsonl"),
            "--label-column",
            "edu",
            "--output",
            str(edu_model),
        )
    curation(
        "score",
        "--input",
        str(out / "build" / cfg.lang),
        "--output",
        str(out / "score"),
        "--classifier",
        str(edu_model),
        "--badwords",
        str(data / "toxicity"),
        "--workers",
        "2",
    )
    curation("dedup", "--input", str(out / "score"), "--output", str(out / "dedup"), "--workers", "2")

    tokenizer = train_tokenizer(texts.pt_train + texts.en_train, out / "tokenizer" / "tokenizer.json")
    en_paths = [str(p) for p in texts.en_train]
    pt_paths = [str(p) for p in texts.pt_train] + [str(out / "dedup" / "*.parquet")]
    base_tokens = SEQ_LEN * BATCH_SEQUENCES * cfg.base_steps
    cpt_tokens = SEQ_LEN * BATCH_SEQUENCES * cfg.cpt_steps
    base_pack = mix_and_pack(
        out, "base-en", tokenizer, {"en": {"paths": en_paths, "weight": 1.0, "max_epochs": 4}}, base_tokens
    )
    base = train_run(
        out,
        "base-en",
        base_pack,
        {"config": BASE_MODEL},
        cfg.base_steps,
        BASE_LR,
        texts,
    )
    base_model = {"name_or_path": base["export"]}
    runs = {}
    for name, sources in (
        ("cpt-pt", {"pt": {"paths": pt_paths, "weight": 1.0, "max_epochs": 4}}),
        (
            "cpt-pt-replay",
            {
                "pt": {"paths": pt_paths, "weight": 0.75, "max_epochs": 4},
                "en_replay": {"paths": en_paths, "weight": 0.25, "max_epochs": 4},
            },
        ),
    ):
        pack = mix_and_pack(out, name, tokenizer, sources, cpt_tokens)
        runs[name] = train_run(out, name, pack, base_model, cfg.cpt_steps, CPT_LR, texts)

    ablation = run_ablation(cfg, data, out, tokenizer, pt_paths, en_paths)

    curation("report", str(out))
    console.print(f"everything is under {out}/ (report: {out}/report/report.html)")
    return {
        "base": bpb(base, "after"),
        "runs": {name: bpb(s, "after") for name, s in runs.items()},
        "ablation": ablation,
    }


def run_ablation(
    cfg: DemoConfig, data: Path, out: Path, tokenizer: str, pt_paths: list[str], en_paths: list[str]
) -> dict[str, Any]:
    """The evaluation sets, then a two-variant ablation with the CPU proxy: Portuguese only against
    Portuguese + 25% English, at equal tokens and seeds; returns the ablation's summary."""
    curation("evalsets", "--data", str(data), "--output", str(out / "evalsets"))
    spec = {
        "output": str(out / "ablate"),
        "tokenizer": tokenizer,
        "proxy": "1m",
        "seq_len": SEQ_LEN,
        "global_batch_tokens": SEQ_LEN * BATCH_SEQUENCES,
        "tokens": SEQ_LEN * BATCH_SEQUENCES * cfg.ablation_steps,
        "seeds": ABLATION_SEEDS,
        "evalsets": str(out / "evalsets"),
        "eval": {"max_examples": ABLATION_EXAMPLES, "max_bytes_per_set": 60_000, "curve_max_bytes": 20_000},
        "base": {"sources": {"pt": {"paths": pt_paths, "max_epochs": 4}}},
        "variants": {
            "pt": {"description": "Portuguese only"},
            "pt-en25": {
                "description": "Portuguese + 25% English",
                "sources": {
                    "pt": {"weight": 0.75},
                    "en": {"paths": en_paths, "weight": 0.25, "max_epochs": 4},
                },
            },
        },
        "workers": 2,
    }
    curation("ablate", "--spec", write_yaml(out / "configs" / "ablate.yaml", spec))
    return json.loads((out / "ablate" / "_run" / "stats.json").read_text())["summary"]


def bpb_table(base: dict[str, float], runs: dict[str, dict[str, float]]) -> Any:
    """Held-out bits per byte of the base and of each CPT run, and the two effects the demo shows."""
    from rich.console import Group

    table = Table(title="held-out bits per byte (lower is better)")
    for col in ("model", "pt bpb", "en bpb", "Δ pt vs base", "Δ en vs base"):
        table.add_column(col, justify="left" if col == "model" else "right")
    table.add_row("English base (before CPT)", f"{base['pt']:.3f}", f"{base['en']:.3f}", "", "")
    for name, r in runs.items():
        table.add_row(
            name,
            f"{r['pt']:.3f}",
            f"{r['en']:.3f}",
            f"{r['pt'] - base['pt']:+.3f}",
            f"{r['en'] - base['en']:+.3f}",
        )
    no_replay, replay = runs["cpt-pt"], runs["cpt-pt-replay"]
    checks = {
        "CPT lowers Portuguese bpb": all(r["pt"] < base["pt"] for r in runs.values()),
        "replay reduces the English regression": replay["en"] < no_replay["en"],
    }
    lines = [("[green]✓[/green] " if ok else "[red]✗[/red] ") + what for what, ok in checks.items()]
    return Group(table, *lines)
