"""`curation score`: add ``<task>_score`` (and bad-word) columns to Parquet shards, keeping the others.

Each input shard becomes one output shard at the same relative path. On Ray the scorers live in a pool of
actors (``num_gpus=1`` each when a transformers model is used and the cluster has GPUs), so each model is
loaded once per worker and fed whole shards.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from curation.core import io
from curation.core.config import ParallelConfig, StageConfig
from curation.core.errors import CurationError
from curation.core.schema import BADWORD_COUNT, BADWORD_RATIO, LANG, TEXT, score_column
from curation.core.stage import Run, Stage, UnitResult, shard_units
from curation.core.stats import Stats

STAGE = "score"
SUM_PREFIX = "sum:"


class ScoreConfig(StageConfig, ParallelConfig):
    """Add <task>_score (and badword_count/badword_ratio) columns to Parquet shards."""

    input: list[str] = Field(
        min_length=1, description="Parquet shards, dirs or globs.", json_schema_extra={"short": "-i"}
    )
    classifier: list[str] = Field(
        default_factory=list,
        description="[TASK=]model dir from `classifier train`, fastText .bin/.ftz, HF model dir or hub id.",
    )
    badwords: list[str] = Field(default_factory=list, description="Directories of LDNOOBW-style word lists.")
    badword_lang: str | None = Field(None, description="List language for every document (default: lang).")
    text_column: str = Field(TEXT, description="Column holding the text.")
    batch_size: int = Field(32, description="Texts per transformers batch.")
    device: str | None = Field(None, description="cuda or cpu (default: cuda when available).")


class ShardScorer:
    """The loaded scorers and bad-word lists; adds their columns to a table."""

    def __init__(
        self,
        classifiers: list[str],
        badwords: list[str],
        text_column: str = TEXT,
        badword_lang: str | None = None,
        batch_size: int = 32,
        device: str | None = None,
    ) -> None:
        from curation.filters.badwords import BadWords
        from curation.filters.scoring import load_scorer

        self.text_column, self.badword_lang = text_column, badword_lang
        self.scorers = [load_scorer(spec, batch_size=batch_size, device=device) for spec in classifiers]
        self.badwords = BadWords.from_dirs(badwords) if badwords else None

    @classmethod
    def of(cls, cfg: ScoreConfig) -> ShardScorer:
        return cls(
            cfg.classifier, cfg.badwords, cfg.text_column, cfg.badword_lang, cfg.batch_size, cfg.device
        )

    def score_table(self, table: Any, stats: Stats, src: str = "") -> Any:
        """Add the score (and bad-word) columns to a pyarrow ``table``; also used inside `curation build`."""
        import numpy as np
        import pyarrow as pa

        if self.text_column not in table.column_names:
            raise CurationError(f"unknown column '{self.text_column}' in {src}")
        texts = [t or "" for t in table.column(self.text_column).to_pylist()]
        stats.seen(STAGE, len(texts))
        columns: dict[str, Any] = {}
        for scorer in self.scorers:
            with stats.timed(f"score:{scorer.task}"):
                scores = scorer.score(texts) if texts else np.empty(0, np.float32)  # models refuse 0 rows
                columns[score_column(scorer.task)] = pa.array(scores, pa.float32())
        if self.badwords is not None:
            langs = self._langs(table, src)
            with stats.timed("badwords"):
                counts, ratios = self.badwords.measure_many(texts, langs)
            columns[BADWORD_COUNT] = pa.array(counts, pa.int32())
            columns[BADWORD_RATIO] = pa.array(ratios, pa.float32())
        for name, values in columns.items():
            if name in table.column_names:
                table = table.drop_columns([name])
            table = table.append_column(name, values)
            total = np.nansum(np.asarray(values.to_numpy(zero_copy_only=False), dtype=float))
            stats.add(f"{SUM_PREFIX}{name}", float(total))
        stats.kept(STAGE, len(texts))
        return table

    def _langs(self, table: Any, src: str) -> list[str]:
        if self.badword_lang:
            return [self.badword_lang] * table.num_rows
        if LANG not in table.column_names:
            raise CurationError(f"no '{LANG}' column in {src}: set badword_lang")
        return [lang or "" for lang in table.column(LANG).to_pylist()]


def score_shard(item: tuple[str, str], scorer: ShardScorer) -> UnitResult:
    src, dst = item
    stats = Stats()
    io.write_parquet(dst, scorer.score_table(io.read_parquet(src), stats, src))
    return UnitResult(stats=stats.to_dict(), outputs=[dst])


class _ScorerSetup:
    """Builds a worker's scorer (picklable, so Ray actors can call it)."""

    def __init__(self, cfg: ScoreConfig) -> None:
        self.cfg = cfg

    def __call__(self) -> ShardScorer:
        return ShardScorer.of(self.cfg)


class ScoreSummary(BaseModel):
    shards: int
    documents: int
    mean: dict[str, float] = Field(description="Mean of every added column over all documents.")


class Score(Stage[ScoreConfig]):
    """Add <task>_score (and badword_count/badword_ratio) columns to Parquet shards."""

    name = "score"
    config_model = ScoreConfig

    def _resources(self) -> dict[str, float]:
        """One GPU per actor when a transformers model is used and the cluster has GPUs, else one CPU."""
        from curation.filters.scoring import backend_of

        if self.cfg.executor == "local" or not any(
            backend_of(s) == "transformers" for s in self.cfg.classifier
        ):
            return {"num_cpus": 1}
        import ray

        return {"num_gpus": 1} if ray.cluster_resources().get("GPU", 0) else {"num_cpus": 1}

    def run(self, run: Run) -> ScoreSummary:
        from curation.core.executor import ensure_ray
        from curation.filters.scoring import backend_of

        cfg = self.cfg
        if not cfg.classifier and not cfg.badwords:
            raise CurationError("nothing to score: give at least one classifier or badwords directory")
        for spec in cfg.classifier:
            backend_of(spec)  # a bad model path fails here, before any work
        for directory in cfg.badwords:
            if not io.is_dir(directory):
                raise CurationError(f"bad-word list directory not found: {directory}")
        units = shard_units(cfg.input, cfg.output)
        if cfg.executor == "ray":
            ensure_ray(cfg.ray_address, cfg.workers)
        run.map("score", units, score_shard, setup=_ScorerSetup(cfg), resources=self._resources())
        docs = run.stats.stages.get(STAGE, {}).get("out", 0)
        mean = {
            k[len(SUM_PREFIX) :]: v / docs
            for k, v in run.stats.totals.items()
            if k.startswith(SUM_PREFIX) and docs
        }
        return ScoreSummary(shards=len(units), documents=docs, mean=mean)

    def plot(self, stats: dict[str, Any], run: Run) -> None:
        """``_run/scores.png``: the distribution of every added column over all output shards."""
        import pyarrow as pa

        from curation.core.plots import pyplot, save

        columns = list(stats["summary"]["mean"])
        if not columns:
            return
        files = [u.item[1] for u in shard_units(self.cfg.input, self.cfg.output)]
        values = pa.concat_tables([io.read_parquet(f, columns=columns) for f in files])
        fig, axes = pyplot().subplots(1, len(columns), figsize=(3.2 * len(columns), 2.8), squeeze=False)
        for ax, column in zip(axes[0], columns, strict=True):
            ax.hist(values.column(column).drop_null().to_numpy(), bins=40, color="#1565c0")
            ax.set(title=column, xlabel="value", ylabel="docs")
        fig.tight_layout()
        save(fig, io.join(run.run_dir, "scores.png"), dpi=100)

    def render(self, stats: dict[str, Any]) -> str:
        s = stats["summary"]
        means = ", ".join(f"mean {k} {v:.3f}" for k, v in s["mean"].items())
        resumed = stats["units"]["resumed"]
        return f"scored {s['documents']:,} docs in {s['shards']} shards ({resumed} already done): {means} -> {self.cfg.output}"
