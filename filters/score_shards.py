"""``curation score``: add ``<task>_score`` (and bad-word) columns to Parquet shards, keeping the others.

Each input shard becomes one output shard at the same relative path, written atomically, then a completion
record; a rerun skips completed shards, so a killed run resumes without duplicates or gaps. On Ray the
scorers live in an actor pool (``num_gpus=1`` per actor when a transformers model is used and the cluster has
GPUs), so each model is loaded once per actor and fed whole shards.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from curation import schema as S
from curation.errors import CurationError
from curation.executor import ensure_ray
from curation.io import write_parquet
from curation.runinfo import save_stats
from curation.stats import Stats
from filters.shards import Job, plan, run_jobs


class ScoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: list[str]
    output: str
    classifier: list[str] = Field(default_factory=list, description="[TASK=]model dir, .bin/.ftz or hub id")
    badwords: list[str] = Field(default_factory=list, description="directories of LDNOOBW-style lists")
    badword_lang: str | None = Field(None, description="list language for every doc (default: lang column)")
    text_col: str = S.TEXT
    batch_size: int = 32
    device: str | None = None
    executor: Literal["ray", "local"] = "ray"
    workers: int | None = None
    ray_address: str | None = None


class ShardScorer:
    """Holds the loaded scorers and bad-word lists; scores one shard file into one output file."""

    def __init__(self, cfg: ScoreConfig) -> None:
        from filters.badwords import BadWords
        from filters.scoring import load_scorer

        self.cfg = cfg
        self.scorers = [
            load_scorer(spec, batch_size=cfg.batch_size, device=cfg.device) for spec in cfg.classifier
        ]
        self.badwords = BadWords.from_dirs(cfg.badwords) if cfg.badwords else None

    def __call__(self, src: str, dst: str) -> dict[str, Any]:
        stats = Stats()
        table = self.score_table(pq.read_table(src), stats, src)
        write_parquet(dst, table)
        return stats.to_dict()

    def score_table(self, table: pa.Table, stats: Stats, src: str = "") -> pa.Table:
        """Add the score (and bad-word) columns to ``table``; also used inside ``curation build``."""
        if self.cfg.text_col not in table.column_names:
            raise CurationError(f"unknown column '{self.cfg.text_col}' in {src}")
        texts = [t or "" for t in table.column(self.cfg.text_col).to_pylist()]
        stats.seen("score", len(texts))
        columns: dict[str, pa.Array] = {}
        for scorer in self.scorers:
            with stats.timed(f"score:{scorer.task}"):
                scores = scorer.score(texts) if texts else np.empty(0, np.float32)  # models refuse 0 rows
                columns[S.score_column(scorer.task)] = pa.array(scores, pa.float32())
        if self.badwords is not None:
            langs = self._langs(table, src)
            with stats.timed("badwords"):
                counts, ratios = self.badwords.measure_many(texts, langs)
            columns[S.BADWORD_COUNT] = pa.array(counts, pa.int32())
            columns[S.BADWORD_RATIO] = pa.array(ratios, pa.float32())
        for name, values in columns.items():
            if name in table.column_names:
                table = table.drop_columns([name])
            table = table.append_column(name, values)
            stats.add(
                f"sum:{name}",
                float(np.nansum(np.asarray(values.to_numpy(zero_copy_only=False), dtype=float))),
            )
        stats.kept("score", len(texts))
        return table

    def run(self, job: Job) -> tuple[Job, dict[str, Any]]:
        """Actor entry point: score ``job = (source, destination, key)``."""
        return job, self(job[0], job[1])

    def _langs(self, table: pa.Table, src: str) -> list[str]:
        if self.cfg.badword_lang:
            return [self.cfg.badword_lang] * table.num_rows
        if S.LANG not in table.column_names:
            raise CurationError(f"no '{S.LANG}' column in {src}: set badword_lang")
        return [lang or "" for lang in table.column(S.LANG).to_pylist()]


def _actor_resources(cfg: ScoreConfig) -> dict[str, float]:
    """One GPU per actor when a transformers model is used and the cluster has GPUs, else one CPU."""
    import ray

    from filters.scoring import backend_of

    uses_transformers = any(backend_of(spec) == "transformers" for spec in cfg.classifier)
    return {"num_gpus": 1} if uses_transformers and ray.cluster_resources().get("GPU", 0) else {"num_cpus": 1}


def _run_ray(cfg: ScoreConfig, todo: list[Job]):  # noqa: ANN202
    import ray
    from ray.util import ActorPool

    ensure_ray(cfg.ray_address, cfg.workers)
    resources = _actor_resources(cfg)
    capacity = ray.cluster_resources().get("GPU" if "num_gpus" in resources else "CPU", 1)
    n_actors = max(1, min(len(todo), cfg.workers or int(capacity)))
    actor_cls = ray.remote(**resources)(ShardScorer)
    pool = ActorPool([actor_cls.remote(cfg) for _ in range(n_actors)])
    yield from pool.map_unordered(lambda actor, job: actor.run.remote(job), todo)


def plot_histograms(output: str, files: list[str], columns: list[str]) -> None:
    """``_run/scores.png``: the distribution of every added column over all output shards."""
    from curation.plots import _pyplot

    if not columns:
        return
    values = pa.concat_tables([pq.read_table(f, columns=columns) for f in files])
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 2.8), squeeze=False)
    for ax, column in zip(axes[0], columns, strict=True):
        data = values.column(column).drop_null().to_numpy()
        ax.hist(data, bins=40, color="#1565c0")
        ax.set(title=column, xlabel="value", ylabel="docs")
    fig.tight_layout()
    fig.savefig(Path(output) / S.RUN_DIR / "scores.png", dpi=100)
    plt.close(fig)


def run_score(cfg: ScoreConfig, console: Console | None = None) -> dict[str, Any]:
    """Score every input shard not yet done; write config, stats, a score histogram and a summary."""
    from filters.scoring import backend_of

    console = console or Console()
    if not cfg.classifier and not cfg.badwords:
        raise CurationError("nothing to score: give at least one classifier or badwords directory")
    for spec in cfg.classifier:
        backend_of(spec)  # a bad model path fails here, before any work
    for directory in cfg.badwords:
        if not Path(directory).is_dir():
            raise CurationError(f"bad-word list directory not found: {directory}")

    def run(todo: list[Job]) -> Iterable[tuple[Job, dict[str, Any]]]:
        return map(ShardScorer(cfg).run, todo) if cfg.executor == "local" else _run_ray(cfg, todo)

    summary = run_jobs("score", cfg.model_dump(), cfg.input, cfg.output, "scoring shards", run)
    docs = summary["stages"].get("score", {}).get("out", 0)
    summary["mean"] = {k[4:]: v / docs for k, v in summary["totals"].items() if k.startswith("sum:") and docs}
    save_stats(cfg.output, summary)
    plot_histograms(cfg.output, [job[1] for job in plan(cfg.input, cfg.output)], list(summary["mean"]))
    console.print(
        f"scored {docs:,} docs in {summary['shards']} shards ({summary['shards_resumed']} already done): "
        + ", ".join(f"mean {k} {v:.3f}" for k, v in summary["mean"].items())
        + f" -> {cfg.output}"
    )
    return summary
