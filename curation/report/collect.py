"""Gather the evidence a run directory holds: every stage output's ``_run/`` files, its shards and artefacts.

A run directory is one stage output or a folder of several (``build/``, ``score/``, ``dedup/``, ``mix/``...).
Every folder with ``_run/config.yaml`` or ``_run/stats.json`` below it is a stage output (one without stats is
still running, or was killed); its command comes from ``_run/config.yaml`` (``command``), else from
``stats.json``, else from the folder name. Nothing here assumes a stage ran.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from curation.core import io
from curation.core.errors import CurationError
from curation.core.schema import CONFIG_FILE, RUN_DIR, STATS_FILE

NOT_STAGES = ("report", "demo")  # commands whose run folders hold stage outputs rather than being one
# commands whose outputs hold the stage outputs of their jobs: those are summarised by the command's own section
JOB_HOLDERS = ("ablate", "plan")
COMMAND_ORDER = (
    "build",
    "score",
    "filter",
    "dedup",
    "inventory",
    "mix",
    "pack",
    "train",
    "eval",
    "ablate",
    "plan",
)


@dataclass
class StageRun:
    """One stage output: its folder (a local path or URL), the command that wrote it, its resolved config and
    its stats; ``nested`` are the folders of stage outputs inside it (their files are not its own)."""

    path: str
    name: str
    command: str
    config: dict[str, Any]
    stats: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    nested: tuple[str, ...] = ()

    @property
    def finished(self) -> bool:
        return io.exists(io.join(self.path, RUN_DIR, STATS_FILE))

    def relative(self, path: str) -> str:
        return path[len(self.path.rstrip("/")) :].lstrip("/")

    def files(self, pattern: str) -> list[str]:
        """Files matching ``pattern`` below this stage, outside ``_run``/hidden folders and nested stages."""
        out = []
        for p in io.find(self.path, pattern):
            parts = self.relative(p).split("/")
            if any(part.startswith(("_", ".")) for part in parts[:-1]) or parts[-1].startswith("."):
                continue
            if any(p.startswith(n.rstrip("/") + "/") for n in self.nested):
                continue  # belongs to a nested stage output
            out.append(p)
        return out

    def parquet_files(self) -> list[str]:
        return self.files("*.parquet")


def _read_yaml(path: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(io.read_text(path))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_json(path: str) -> dict[str, Any]:
    try:
        data = json.loads(io.read_text(path))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _order_key(stage: StageRun) -> tuple[int, str]:
    rank = COMMAND_ORDER.index(stage.command) if stage.command in COMMAND_ORDER else len(COMMAND_ORDER)
    return rank, stage.name


def find_stage_runs(root: str) -> list[StageRun]:
    """Every stage output below ``root`` (``root`` included), in pipeline order; reports are skipped."""
    root = str(root).rstrip("/")
    if not io.is_dir(root):
        raise CurationError(f"run directory not found: {root}")
    stages = []
    evidence = [p for name in (STATS_FILE, CONFIG_FILE) for p in io.find(root, name)]
    folders = sorted({p.rsplit("/", 2)[0] for p in evidence if p.rsplit("/", 2)[1] == RUN_DIR})
    for folder in folders:
        rel = folder[len(root) :].lstrip("/")
        if RUN_DIR in rel.split("/"):
            continue  # a stage's own scratch space, not an output
        run_dir = io.join(folder, RUN_DIR)
        meta = _read_yaml(io.join(run_dir, CONFIG_FILE))
        stats = _read_json(io.join(run_dir, STATS_FILE))  # {} while the stage runs, or after it was killed
        command = str(meta.get("command") or stats.get("stage") or folder.rsplit("/", 1)[-1])
        if command in NOT_STAGES:
            continue
        config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
        nested = tuple(f for f in folders if f.startswith(folder + "/"))
        name = rel or folder.rsplit("/", 1)[-1]
        stages.append(StageRun(folder, name, command, config, stats, meta, nested))
    holders = [s.path.rstrip("/") + "/" for s in stages if s.command in JOB_HOLDERS]
    stages = [s for s in stages if not any(s.path.startswith(h) for h in holders)]
    if not stages:
        raise CurationError(f"no stage output (*/{RUN_DIR}/{CONFIG_FILE} or {STATS_FILE}) under: {root}")
    return sorted(stages, key=_order_key)


def summary_of(stage: StageRun) -> dict[str, Any]:
    """The stage's own summary in its stats.json ({} while it runs or after a kill)."""
    summary = stage.stats.get("summary")
    return summary if isinstance(summary, dict) else {}


def of_command(stages: Iterable[StageRun], *commands: str) -> list[StageRun]:
    return [s for s in stages if s.command in commands]


def merged_counter(stages: Iterable[StageRun], name: str) -> Counter[str]:
    total: Counter[str] = Counter()
    for stage in stages:
        counter = stage.stats.get("counters", {}).get(name)
        if isinstance(counter, dict):
            total.update({str(k): v for k, v in counter.items() if isinstance(v, int | float)})
    return total


def walk_numbers(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Flatten nested dicts into ``("a/b/c", value)`` pairs (lists and scalars are leaves)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from walk_numbers(value, f"{prefix}/{key}" if prefix else str(key))
    else:
        yield prefix, obj


def find_files(stages: Iterable[StageRun], filename: str) -> list[tuple[StageRun, str]]:
    return [(stage, p) for stage in stages for p in stage.files(filename)]


def load_json_files(stages: Iterable[StageRun], filename: str) -> list[tuple[StageRun, str, dict[str, Any]]]:
    """``(stage, path relative to the stage, content)`` of every ``filename`` below the stages."""
    return [(st, st.relative(p), _read_json(p)) for st, p in find_files(stages, filename)]


def load_metrics(path: str) -> list[dict[str, Any]]:
    """Training metrics records, flattened (``{"eval": {"pt": 1.2}}`` -> ``eval/pt``); bad lines skipped."""
    records = []
    try:
        lines = io.read_bytes(path).decode("utf-8", errors="replace").splitlines()
    except OSError:
        return records
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # blank or half-written line of a killed run
        if isinstance(rec, dict):
            records.append(dict(walk_numbers(rec)))
    return records
