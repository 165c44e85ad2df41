"""`curation classifier annotate`: LLM-judged 0-5 labels for a stratified sample of documents.

A sample is drawn from the shards, stratified by a column (``lang`` by default: each value gets its share,
at least one doc). Every (document, task) is sent to the judge with the task's prompt template, with bounded
concurrency. Answers go to an append-only JSONL cache keyed by doc id + task + judge model + prompt hash, so
a rerun (after a kill, or with more tasks) only asks what is missing. The output ``labelled.parquet`` has the
sample's ``id``, ``text``, stratum column, ``url`` when the input has one (so that ``classifier train`` holds out
by site) and one integer column per task: null where no score could be parsed. Such answers are counted per
task in the summary, with a few of them shown, and are never read as 0; ``curation classifier train
--label-column edu`` reads the file directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from curation.core import io
from curation.core.config import StageConfig
from curation.core.errors import CurationError
from curation.core.executor import progress_bar
from curation.core.schema import ANNOTATION_CACHE, ID, LANG, TEXT, URL
from curation.core.stage import Run, Stage
from curation.core.stats import Stats
from curation.filters.judges import ChatClient, LocalJudge, RequestFailed, parse_score

if TYPE_CHECKING:
    import polars as pl

PROMPT_DIR = Path(__file__).parent / "prompts"
LABELLED_FILE = "labelled.parquet"
STAGE = "annotate"
UNPARSED_EXAMPLES = 3  # answers without a readable score shown in the summary


class AnnotateConfig(StageConfig):
    """Ask an LLM judge for 0-5 scores on a stratified sample; write labelled.parquet (cached, resumable)."""

    input: list[str] = Field(
        min_length=1, description="Parquet shards, dirs or globs.", json_schema_extra={"short": "-i"}
    )
    tasks: list[str] = Field(default_factory=lambda: ["edu", "stem", "toxicity"], description="Prompt names.")
    sample_docs: int = Field(1000, gt=0, description="Documents to sample.")
    stratify_column: str = Field(LANG, description="Column to stratify the sample by.")
    seed: int = Field(0, description="Sampling seed.")
    base_url: str | None = Field(None, description="OpenAI-compatible API base URL (.../v1).")
    model: str | None = Field(None, description="Judge model name at the API.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key.")
    judge_model: str | None = Field(None, description="Local causal LM directory as judge instead of an API.")
    prompt_dir: str = Field(str(PROMPT_DIR), description="Directory of <task>.md prompt templates.")
    concurrency: int = Field(8, gt=0, description="Requests in flight.")
    max_retries: int = Field(5, description="Retries on 429/5xx/network errors.")
    backoff_seconds: float = Field(1.0, description="First back-off delay (doubles).")
    timeout_seconds: float = Field(60.0, description="Time-out per request.")
    max_doc_chars: int = Field(6000, description="Characters of each document put in the prompt.")


def load_prompts(prompt_dir: str, tasks: list[str]) -> dict[str, str]:
    prompts = {}
    for task in tasks:
        path = Path(prompt_dir) / f"{task}.md"
        if not path.is_file():
            raise CurationError(f"no prompt template for task '{task}': {path}")
        prompts[task] = path.read_text(encoding="utf-8")
        if "{document}" not in prompts[task]:
            raise CurationError(f"prompt template lacks the {{document}} placeholder: {path}")
    return prompts


def allocate(sizes: list[int], n_docs: int) -> list[int]:
    """Largest-remainder shares of ``n_docs`` over strata of ``sizes``: at least one each, none over its size."""
    total = sum(sizes)
    quotas = [n_docs * size / total for size in sizes]
    take = [min(size, max(1, int(q))) for size, q in zip(sizes, quotas, strict=True)]
    by_remainder = sorted(range(len(sizes)), key=lambda i: quotas[i] - int(quotas[i]), reverse=True)
    while sum(take) < n_docs:
        i = next(
            i for i in by_remainder + sorted(range(len(sizes)), key=lambda i: -sizes[i]) if take[i] < sizes[i]
        )
        take[i] += 1
        by_remainder = [j for j in by_remainder if j != i]
    while sum(take) > n_docs:
        i = max(range(len(sizes)), key=lambda i: (take[i] - quotas[i], take[i]))
        take[i] -= 1
    return take


def stratified_sample(frame: pl.DataFrame, column: str, n_docs: int, seed: int) -> pl.DataFrame:
    """``n_docs`` rows, each stratum's share proportional to its size (at least one row per stratum)."""
    import polars as pl

    if frame.height <= n_docs:
        return frame
    counts = frame.group_by(column).len().sort(column, nulls_last=True)
    values, sizes = counts[column].to_list(), counts["len"].to_list()
    parts = []
    for value, take in zip(values, allocate(sizes, n_docs), strict=True):
        group = frame.filter(pl.col(column).is_null() if value is None else pl.col(column) == value)
        if take:
            parts.append(group.sample(take, seed=seed))
    return pl.concat(parts)


def read_sample(cfg: AnnotateConfig) -> pl.DataFrame:
    import polars as pl

    from curation.core.sql import require_columns
    from curation.filters.labelled import read_table

    frame = pl.concat([read_table(path) for path in cfg.input], how="diagonal_relaxed")
    require_columns(frame.columns, [TEXT, cfg.stratify_column], ", ".join(cfg.input))
    if ID not in frame.columns:
        frame = frame.with_columns(pl.col(TEXT).hash(seed=0).cast(pl.Utf8).alias(ID))
    columns = [ID, TEXT, cfg.stratify_column]
    if URL in frame.columns and URL != cfg.stratify_column:
        columns.append(URL)
    frame = frame.select(columns).unique(ID, keep="first", maintain_order=True)
    return stratified_sample(frame, cfg.stratify_column, cfg.sample_docs, cfg.seed).sort(ID)


class Cache:
    """Append-only JSONL of judged items; tolerant of a torn last line from a killed run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.entries: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self.entries[entry["key"]] = entry

    @staticmethod
    def key(doc_id: str, task: str, judge: str, prompt: str) -> str:
        prompt_hash = hashlib.sha256(prompt.encode()).hexdigest()[:16]
        return hashlib.sha256(f"{doc_id}\x00{task}\x00{judge}\x00{prompt_hash}".encode()).hexdigest()[:32]

    def add(self, entry: dict[str, Any]) -> None:
        with self.lock:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
            self.entries[entry["key"]] = entry


def make_judge(cfg: AnnotateConfig) -> ChatClient | LocalJudge:
    if cfg.judge_model:
        return LocalJudge(cfg.judge_model)
    if not cfg.base_url or not cfg.model:
        raise CurationError("annotate needs base_url and model (an OpenAI-compatible API) or judge_model")
    return ChatClient(
        cfg.base_url,
        cfg.model,
        os.environ.get(cfg.api_key_env),
        cfg.max_retries,
        cfg.backoff_seconds,
        cfg.timeout_seconds,
    )


class Annotate(Stage[AnnotateConfig]):
    """Ask an LLM judge for 0-5 scores on a stratified sample; write labelled.parquet (cached, resumable)."""

    name = "classifier annotate"
    config_model = AnnotateConfig

    def run(self, run: Run) -> dict[str, Any]:
        """Judge the sample for every task (cached) and write ``labelled.parquet``."""
        return annotate(self.cfg, run.stats)

    def render(self, stats: dict[str, Any]) -> str:
        s = stats["summary"]
        lines = [
            f"judged {s['docs']:,} docs x {len(self.cfg.tasks)} tasks with {s['judge']}: "
            f"{s['asked']:,} asked, {s['parse_failures']} answers without a readable 0-5 score (null, not 0), "
            f"{s['requests_failed']} failed requests, {s['retries']} retries -> {s['labelled']}"
        ]
        if s["parse_failures"]:
            by_task = ", ".join(f"{task} {n}" for task, n in s["parse_failures_by_task"].items() if n)
            lines.append(f"unparsed answers by task: {by_task}; e.g.")
            lines += [f"  {e['task']} {e['doc_id']}: ...{e['answer_end']!r}" for e in s["unparsed_examples"]]
        return "\n".join(lines)


def annotate(cfg: AnnotateConfig, stats: Stats) -> dict[str, Any]:
    import polars as pl

    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    prompts = load_prompts(cfg.prompt_dir, cfg.tasks)
    sample = read_sample(cfg)
    judge = make_judge(cfg)
    cache = Cache(out / ANNOTATION_CACHE)
    todo = []
    for doc_id, text in sample.select(ID, TEXT).iter_rows():
        for task in cfg.tasks:
            key = Cache.key(doc_id, task, judge.name, prompts[task])
            stats.seen(STAGE)
            if key in cache.entries:
                stats.count("items", "cached")
            else:
                todo.append(
                    (key, doc_id, task, prompts[task].replace("{document}", text[: cfg.max_doc_chars]))
                )

    def ask(item: tuple[str, str, str, str]) -> str:
        key, doc_id, task, prompt = item
        try:
            answer = judge.complete(prompt)
        except RequestFailed as exc:
            return f"request_failed: {exc}"
        score = parse_score(answer)
        cache.add(
            {
                "key": key,
                "doc_id": doc_id,
                "task": task,
                "judge": judge.name,
                "score": score,
                "answer": answer[-500:],
            }
        )
        return "parsed" if score is not None else "parse_failed"

    workers = 1 if isinstance(judge, LocalJudge) else cfg.concurrency
    with progress_bar() as bar, ThreadPoolExecutor(max_workers=workers) as pool:
        task_id = bar.add_task("judging", total=len(todo), info="")
        for future in as_completed([pool.submit(ask, item) for item in todo]):
            outcome = future.result()
            stats.count("items", outcome.split(":")[0])
            if outcome != "parsed":
                stats.count("errors", outcome)
            bar.update(task_id, advance=1)
    labels: dict[str, list[int | None]] = {task: [] for task in cfg.tasks}
    unparsed: dict[str, int] = {task: 0 for task in cfg.tasks}
    examples = []
    for doc_id in sample[ID].to_list():
        for task in cfg.tasks:
            entry = cache.entries.get(Cache.key(doc_id, task, judge.name, prompts[task]))
            labels[task].append(entry["score"] if entry else None)
            if entry and entry["score"] is None:
                unparsed[task] += 1
                if len(examples) < UNPARSED_EXAMPLES:
                    examples.append({"doc_id": doc_id, "task": task, "answer_end": entry["answer"][-200:]})
    labelled = sample.with_columns(pl.Series(task, values, dtype=pl.Int8) for task, values in labels.items())
    io.write_parquet(out / LABELLED_FILE, labelled.to_arrow())
    scored = {task: sum(v is not None for v in values) for task, values in labels.items()}
    stats.kept(STAGE, sum(scored.values()))
    items = stats.counters.get("items", {})
    return {
        "judge": judge.name,
        "labelled": str(out / LABELLED_FILE),
        "docs": sample.height,
        "asked": len(todo),
        "retries": judge.retries,
        "scored": scored,
        "parse_failures": sum(unparsed.values()),
        "parse_failures_by_task": unparsed,
        "unparsed_examples": examples,
        "requests_failed": items.get("request_failed", 0),
    }
