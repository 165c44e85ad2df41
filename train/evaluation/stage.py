"""`curation eval`: score a checkpoint on held-out bits per byte and early-signal tasks; eval.json + a table.

The model is our export folder (or a `curation train` run folder, whose ``export/`` is used) or any local
Hugging Face causal LM directory. Every bits-per-byte set and every task is one unit of work (the model is
loaded once), so a killed evaluation resumes with the sets it had not finished. Optional lm-evaluation-harness
tasks run on the model folder when ``lm_eval`` and the task data are available, else the reason they were
skipped is recorded.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from rich.table import Table

from curation.core import io
from curation.core.config import RUNTIME, StageConfig, StrictModel
from curation.core.errors import CurationError
from curation.core.stage import Run, Stage, Unit, UnitResult
from curation.train.distributed import resolve_device
from curation.train.evaluation.evalsets import EVALSETS_FILE, load_evalsets
from curation.train.evaluation.scoring import (
    LoadedModel,
    continuation_scores,
    load_scored_model,
    model_dir,
)

EVAL_FILE = "eval.json"
TABLE_FILE = "eval.md"
BPB = "bpb"
TASK = "task"


class EvalOptions(StrictModel):
    """What to evaluate and how much of it (shared with `curation ablate`'s ``eval`` section)."""

    sets: dict[str, list[str]] = Field(
        default_factory=dict, description="More bits-per-byte sets NAME=PATH (text, JSONL, dirs, globs)."
    )
    only: list[str] | None = Field(None, description="Sets and tasks of the evalsets to run (default: all).")
    max_examples: int | None = Field(None, gt=0, description="First N examples per task (default: all).")
    max_bytes_per_set: int = Field(1_000_000, gt=0, description="UTF-8 bytes of text per bpb set.")
    batch_size: int = Field(16, gt=0, description="Rows per forward pass.")


class EvaluateConfig(StageConfig, EvalOptions):
    """Score a model on held-out bits per byte and early-signal tasks (eval.json and a table)."""

    model: str = Field(description="Export folder, `curation train` run folder or local HF causal LM folder.")
    tokenizer: str | None = Field(None, description="Tokenizer, when the model folder has none.")
    evalsets: str | None = Field(None, description="`curation evalsets` output: its sets and tasks.")
    seq_len: int = Field(1024, gt=1, description="Context in tokens (at most the model's positions).")
    lm_eval_tasks: list[str] = Field(default_factory=list, description="lm-evaluation-harness task names.")
    lm_eval_limit: int | None = Field(None, gt=0, description="Examples per lm-eval task.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto, cpu or cuda.", json_schema_extra=RUNTIME
    )
    precision: Literal["auto", "bf16", "fp32"] = Field("auto", description="auto: bf16 on GPU, fp32 on CPU.")


def score_unit(item: dict[str, Any], cfg: EvaluateConfig, lm: LoadedModel) -> UnitResult:
    """One bits-per-byte set or one task."""
    from curation.train.evaluate import EvalSets
    from curation.train.evaluation.tasks import score_task

    seq_len = min(cfg.seq_len, lm.max_positions or cfg.seq_len)
    if item["kind"] == BPB:
        evalset = EvalSets({item["name"]: item["paths"]}, lm.tokenizer, seq_len, cfg.max_bytes_per_set)
        bpb = evalset.bits_per_byte(lm.model, cfg.batch_size, lm.device, lm.autocast_dtype)[item["name"]]
        result = {**item["meta"], "bpb": bpb, "bytes": evalset.bytes[item["name"]]}
    else:
        examples = list(io.iter_jsonl(item["path"]))[: cfg.max_examples]
        if not examples:
            raise CurationError(f"task {item['name']} has no examples: {item['path']}")
        scorer = functools.partial(continuation_scores, lm, seq_len=seq_len, batch_size=cfg.batch_size)
        result = {**item["meta"], **score_task(item["meta"]["kind"], examples, scorer)}
    return UnitResult(result=result)


def lm_eval_results(model_folder: str, tasks: list[str], limit: int | None, device: str) -> dict[str, Any]:
    """lm-evaluation-harness results, or ``{"skipped": reason}`` (not installed, task data unavailable)."""
    from curation.train.export import run_lm_eval

    try:
        return run_lm_eval(model_folder, tasks, limit, device)
    except Exception as exc:  # lm-eval raises many kinds: missing data offline, unknown task...
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return {"skipped": f"lm-eval could not run {', '.join(tasks)}: {reason[:300]}"}


class Evaluate(Stage[EvaluateConfig]):
    """Score a model on held-out bits per byte and early-signal tasks (eval.json and a table)."""

    name = "eval"
    config_model = EvaluateConfig

    def units(self) -> list[Unit]:

        cfg = self.cfg
        items = []
        if cfg.evalsets:
            index = load_evalsets(cfg.evalsets)
            unknown = sorted(set(cfg.only or []) - set(index["sets"]) - set(index["tasks"]))
            if unknown:
                names = ", ".join([*index["sets"], *index["tasks"]])
                raise CurationError(f"unknown set or task '{unknown[0]}' (evalsets has: {names})")
            for name, s in index["sets"].items():
                if cfg.only is None or name in cfg.only:
                    meta = {"lang": s["lang"], "domain": s["domain"]}
                    items.append({"kind": BPB, "name": name, "paths": [s["path"]], "meta": meta})
            for name, t in index["tasks"].items():
                if cfg.only is None or name in cfg.only:
                    meta = {k: t[k] for k in ("kind", "lang", "primary_metric", "chance")}
                    items.append({"kind": TASK, "name": name, "path": t["path"], "meta": meta})
        elif cfg.only:
            raise CurationError("only: needs --evalsets (the folder `curation evalsets` wrote)")
        for name, paths in cfg.sets.items():
            items.append({"kind": BPB, "name": name, "paths": paths, "meta": {"lang": "", "domain": "given"}})
        if not items and not cfg.lm_eval_tasks:
            raise CurationError("nothing to evaluate: give --evalsets, --sets or --lm-eval-tasks")
        return [Unit(f"{item['kind']}-{item['name']}", item) for item in items]

    def inputs_fingerprint(self) -> Any:
        """The model's files and the evalsets index: re-scoring a retrained model does not reuse results."""
        folder = model_dir(self.cfg.model)
        files = [io.identity(str(p)) for p in sorted(Path(folder).iterdir()) if p.is_file()]
        index = io.join(self.cfg.evalsets, EVALSETS_FILE) if self.cfg.evalsets else None
        return {"model": files, "evalsets": io.read_json(index) if index and io.exists(index) else None}

    def run(self, run: Run) -> dict[str, Any]:
        cfg = self.cfg
        folder = model_dir(cfg.model)
        units = self.units()
        setup = functools.partial(load_scored_model, folder, cfg.tokenizer, cfg.device, cfg.precision)
        records = run.map("score", units, score_unit, cfg, setup=setup, description="evaluating")
        results = {u.key: records[u.key]["result"] for u in units}
        out: dict[str, Any] = {
            "model": folder,
            BPB: {u.item["name"]: results[u.key] for u in units if u.item["kind"] == BPB},
            "tasks": {u.item["name"]: results[u.key] for u in units if u.item["kind"] == TASK},
        }
        if cfg.lm_eval_tasks:
            device = resolve_device(cfg.device)
            out["lm_eval"] = lm_eval_results(folder, cfg.lm_eval_tasks, cfg.lm_eval_limit, device)
        io.write_json(io.join(cfg.output, EVAL_FILE), out)
        io.write_text(io.join(cfg.output, TABLE_FILE), markdown_table(out))
        return out

    def render(self, stats: dict[str, Any]) -> Table:
        s = stats["summary"]
        table = Table(title=f"curation eval: {s['model']}")
        for col in ("set or task", "metric", "value", "± stderr", "n"):
            table.add_column(col, justify="left" if col in ("set or task", "metric") else "right")
        for row in result_rows(s):
            table.add_row(*row)
        if "lm_eval" in s:
            table.add_row(
                "lm-eval", "", str(s["lm_eval"].get("skipped") or s["lm_eval"]["results"])[:200], "", ""
            )
        return table


def result_rows(out: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(set or task, metric, value, standard error, n) for every result of an eval.json."""
    rows = [
        (name, "bits per byte", f"{r['bpb']:.4f}", "", f"{r['bytes']:,} bytes")
        for name, r in out[BPB].items()
    ]
    for name, r in out["tasks"].items():
        for metric in ("acc", "acc_norm", "target_bpb"):
            if metric in r:
                err = r.get(f"{metric}_stderr")
                rows.append(
                    (
                        name,
                        metric,
                        f"{r[metric]:.4f}",
                        f"{err:.4f}" if err is not None else "",
                        str(r["examples"]),
                    )
                )
    return rows


def markdown_table(out: dict[str, Any]) -> str:
    lines = [
        f"Evaluation of `{out['model']}`",
        "",
        "| set or task | metric | value | ± stderr | n |",
        "|---|---|---:|---:|---:|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in result_rows(out)]
    if "lm_eval" in out:
        lines += ["", f"lm-eval: {out['lm_eval'].get('skipped') or out['lm_eval']['results']}"]
    return "\n".join(lines) + "\n"
