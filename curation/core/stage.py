"""The stage contract, and the one runner every command goes through.

A stage is a small class: its pydantic ``Config`` (flags are generated from it), a ``run`` body that maps a
function over units of work with :meth:`Run.map` (once, or step after step), and a typed summary. The runner
does the rest for every stage alike:

- saves the resolved config to ``<output>/_run/config.yaml``;
- skips units that an earlier run finished (one completion-record format: ``_run/done/<step>/<unit>.json``,
  written after the unit's outputs), and starts over when the config or inputs changed since;
- maps the pending units over the executor (local Ray by default, a cluster by address, or in-process);
- merges every unit's stats into one ``stats.json`` with a common header (stage, version, config
  fingerprint, start/end, units done/failed, peak memory) and the stage's summary;
- draws the stage's plots and prints its summary (results to stdout, progress and logs to stderr);
- a unit that failed on bad input is reported by name and makes the command exit 2 after everything else
  is written, so a rerun retries only that unit.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel
from rich.console import Console, Group, RenderableType
from rich.table import Table

from curation import __version__
from curation.core import io
from curation.core.config import ParallelConfig, StageConfig, fingerprint
from curation.core.errors import CurationError
from curation.core.executor import map_items
from curation.core.schema import CONFIG_FILE, DONE_DIR, RUN_DIR, STATS_FILE, WORK_DIR
from curation.core.stats import Stats

ConfigT = TypeVar("ConfigT", bound=StageConfig)
FINGERPRINT_FILE = "fingerprint.json"
stderr = Console(stderr=True)


@dataclass(frozen=True)
class Unit:
    """One unit of work: ``key`` names its completion record (stable, file-system safe); ``item`` is what
    the step's function receives (picklable: it travels to Ray workers)."""

    key: str
    item: Any


@dataclass
class UnitResult:
    """What a unit's function returns: its stats, the files it wrote, a JSON-able result, or why it failed
    (bad input: no completion record is written, the run exits 2 and a rerun retries it)."""

    stats: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    result: Any = None
    failed: str | None = None


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def peak_rss_bytes() -> int:
    """This process's peak resident memory. On Linux from /proc (VmHWM, of the current program only):
    ``ru_maxrss`` survives ``exec``, so a command started by a large process (a test runner, an orchestrator)
    would report its parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _call_unit(unit: Unit, options: dict[str, Any], fn: Callable[..., UnitResult], *args: Any) -> UnitResult:
    """Runs in the worker: the storage options of the run, the unit (``args`` end with the worker's state
    when the step has a ``setup``), its peak memory."""
    io.set_storage_options(options)
    result = fn(unit.item, *args)
    result.stats.setdefault("maxima", {})["peak_rss_bytes"] = peak_rss_bytes()
    return result


@dataclass(frozen=True)
class _Setup:
    """A step's per-worker setup, run with the run's storage options (actors start before any unit)."""

    setup: Callable[[], Any]
    options: dict[str, Any]

    def __call__(self) -> Any:
        io.set_storage_options(self.options)
        return self.setup()


class Stage(Generic[ConfigT]):
    """Subclass with ``name`` (the command), ``config_model`` and ``run``; see the module docstring."""

    name: ClassVar[str]
    config_model: ClassVar[type[StageConfig]]
    config_flags: ClassVar[tuple[str, ...]] = ("--config", "-c")

    def __init__(self, cfg: ConfigT) -> None:
        self.cfg = cfg
        io.set_storage_options(cfg.storage_options)  # before a stage's own set-up reads its inputs

    @classmethod
    def call(cls, **keys: Any) -> dict[str, Any]:
        """Run the stage from Python with config keys as arguments (nested keys as dicts); returns its
        stats.json content. ``Build.call(lang=["pt"], input=["a.warc.gz"], output="out")``."""
        from curation.core.config import validate

        return run_stage(cls(validate(cls.config_model, keys)))

    def run(self, run: Run) -> BaseModel | dict[str, Any]:
        """The stage's body; returns its summary (saved under ``summary`` in stats.json)."""
        raise NotImplementedError

    def resolved(self) -> dict[str, Any]:
        """Values derived from the config that the run's evidence should keep (saved beside the config)."""
        return {}

    def inputs_fingerprint(self) -> Any:
        """Anything besides the config whose change makes earlier completion records stale."""
        return None

    def plot(self, stats: dict[str, Any], run: Run) -> None:
        """Draw the stage's plots into ``run.run_dir`` (optional)."""

    def render(self, stats: dict[str, Any]) -> RenderableType | None:
        """What is printed to stdout at the end (``stats`` is the stats.json content): by default the funnel,
        if the stage counted one, and the summary's scalar values."""
        table = Table(title=f"curation {self.name}", show_header=False)
        for key, value in stats["summary"].items():
            if not isinstance(value, dict | list):
                table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
        return Group(funnel_table(stats), table) if stats["stages"] else table


def funnel_table(stats: dict[str, Any]) -> Table:
    """The funnel of a stats.json: documents into and out of each step, top drop reasons, seconds."""
    table = Table(title=f"curation {stats['stage']}: funnel")
    for col in ("step", "in", "out", "top drop reasons", "seconds"):
        table.add_column(col, justify="left" if col in ("step", "top drop reasons") else "right")
    for name, st in stats["stages"].items():
        reasons = ", ".join(f"{r} {n:,}" for r, n in list(st["dropped"].items())[:3])
        table.add_row(name, f"{st['in']:,}", f"{st['out']:,}", reasons, f"{st['seconds']:.1f}")
    return table


class Run:
    """The envelope of one stage execution; :meth:`map` is how a stage's body gets work done."""

    def __init__(self, stage: Stage[Any]) -> None:
        self.stage = stage
        self.cfg = stage.cfg
        self.output = stage.cfg.output
        self.run_dir = io.join(self.output, RUN_DIR)
        self.work_dir = io.join(self.run_dir, WORK_DIR)
        self.stats = Stats()
        self.is_main = int(os.environ.get("RANK", "0")) == 0
        self.units = {"total": 0, "resumed": 0, "processed": 0, "failed": 0}
        self.failed: dict[str, str] = {}

    def path(self, *parts: str) -> str:
        """A path inside the stage's output."""
        return io.join(self.output, *parts)

    def _records_dir(self, step: str, records_dir: str | None) -> str:
        return records_dir or io.join(self.run_dir, DONE_DIR, step)

    def records(self, step: str, records_dir: str | None = None) -> dict[str, dict[str, Any]]:
        """Completion records of a step, by unit key."""
        folder = self._records_dir(step, records_dir)
        return {os.path.basename(p)[: -len(".json")]: io.read_json(p) for p in io.find(folder, "*.json")}

    def map(
        self,
        step: str,
        units: Sequence[Unit],
        fn: Callable[..., UnitResult],
        *args: Any,
        description: str | None = None,
        info: Callable[[UnitResult], str] | None = None,
        records_dir: str | None = None,
        setup: Callable[[], Any] | None = None,
        resources: dict[str, float] | None = None,
        in_process: bool = False,
    ) -> dict[str, dict[str, Any]]:
        """Run ``fn(unit.item, *args)`` for every unit without a completion record, write each record after
        its outputs, and merge all units' stats into the run's; returns the records of ``units`` by key.

        ``records_dir`` puts the records elsewhere (a cache shared between runs, keyed by content).
        ``setup`` builds a per-worker state once (``fn`` gets it last); ``resources`` per worker (Ray).
        ``in_process`` runs the units in this process whatever the executor (their arguments are too large
        to ship: memory-mapped arrays, say)."""
        folder = self._records_dir(step, records_dir)
        if self.is_main and not io.exists(self._stamp):
            io.write_json(self._stamp, {"fingerprint": self.fingerprint})
        done = {
            key: rec
            for key, rec in self.records(step, records_dir).items()
            if all(io.exists(o) for o in rec.get("outputs", []))
        }
        pending = [u for u in units if u.key not in done]
        self.units["total"] += len(units)
        self.units["resumed"] += len(units) - len(pending)
        if len(pending) < len(units):
            stderr.print(f"{step}: {len(units) - len(pending)} of {len(units)} units already done")
        parallel = self.cfg if isinstance(self.cfg, ParallelConfig) else None
        results = map_items(
            _call_unit,
            pending,
            io.storage_options(),
            fn,
            *args,
            executor=parallel.executor if parallel and pending and not in_process else "local",
            ray_address=parallel.ray_address if parallel else None,
            workers=parallel.workers if parallel else None,
            description=description or f"{self.stage.name} {step}",
            info=info,
            setup=_Setup(setup, io.storage_options()) if setup else None,
            resources=resources,
        )
        for unit, result in results:
            if result.failed:
                self.failed[unit.key] = result.failed
                self.units["failed"] += 1
                self.stats.merge(result.stats)  # reported once, here: no record carries them
                continue
            record = {
                "step": step,
                "unit": unit.key,
                "outputs": result.outputs,
                "stats": result.stats,
                "result": result.result,
            }
            io.write_json(io.join(folder, f"{unit.key}.json"), record)
            done[unit.key] = record
            self.units["processed"] += 1
        ordered = {u.key: done[u.key] for u in units if u.key in done}
        for record in ordered.values():
            self.stats.merge(record["stats"])
        return ordered

    def _start(self) -> None:
        """Config, stale temporary files, and earlier records that no longer belong to this config."""
        if not self.is_main:
            return
        fp = fingerprint({"config": fingerprint(self.cfg), "inputs": self.stage.inputs_fingerprint()})
        self.fingerprint = fp
        io.write_yaml(
            io.join(self.run_dir, CONFIG_FILE),
            {
                "command": self.stage.name,
                "curation_version": __version__,
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "written_at": utc_now(),
                "config_fingerprint": fp,
                "config": self.cfg.model_dump(mode="json", exclude={"storage_options"}),
                "resolved": self.stage.resolved(),
            },
        )
        io.remove_stale_temps(self.output)
        stamp = io.join(self.run_dir, DONE_DIR, FINGERPRINT_FILE)
        if io.exists(stamp) and io.read_json(stamp)["fingerprint"] != fp:
            stderr.print("config or inputs changed since the unfinished run: starting over")
            io.remove_tree(io.join(self.run_dir, DONE_DIR))
            io.remove_tree(self.work_dir)
        self._stamp = stamp

    def _finish(self, summary: dict[str, Any], started: float, started_at: str) -> dict[str, Any]:
        data = self.stats.to_dict()
        peak = data["maxima"].get("peak_rss_bytes", peak_rss_bytes())
        stats = {
            "stage": self.stage.name,
            "curation_version": __version__,
            "config_fingerprint": self.fingerprint,
            "started_at": started_at,
            "ended_at": utc_now(),
            "wall_seconds": round(time.perf_counter() - started, 3),
            "units": dict(self.units),
            "failed_units": dict(self.failed),
            "memory": {"peak_rss_mb_per_worker": round(peak / 2**20, 1)},
            **data,
            "summary": summary,
        }
        io.write_json(io.join(self.run_dir, STATS_FILE), stats)
        self.stage.plot(stats, self)
        renderable = self.stage.render(stats)
        if renderable is not None:
            Console().print(renderable)
        return stats


def path_key(path: str) -> str:
    """A stable, file-system-safe unit key for an input file: its base name plus a hash of the full path."""
    base = os.path.basename(path.rstrip("/")).split("?")[0]
    for suffix in (".gz", ".warc"):
        base = base.removesuffix(suffix)
    digest = hashlib.sha1(path.encode("utf-8")).hexdigest()[:10]
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', base)[:80]}-{digest}"


def relative_paths(files: list[str]) -> list[str]:
    """Each file's path relative to the files' common folder (``pt/part-0.parquet``; a lone file: its name)."""
    bare = [f.split("://", 1)[1] if "://" in f else f for f in files]
    root = os.path.commonpath([os.path.dirname(f) for f in bare])
    return [f[len(root) :].lstrip("/") for f in bare]


def shard_units(inputs: list[str], output: str) -> list[Unit]:
    """One unit per input Parquet shard: item ``(source, destination)``, the destination at the same path
    relative to the shards' common folder; the key is that relative path."""
    files = io.list_parquet(inputs)
    return [
        Unit(re.sub(r"[^A-Za-z0-9._-]+", "__", rel), (src, io.join(output, rel)))
        for src, rel in zip(files, relative_paths(files), strict=True)
    ]


def run_stage(stage: Stage[Any]) -> dict[str, Any]:
    """Run ``stage`` in the envelope above; returns the stats.json content (rank 0) or the summary."""
    run = Run(stage)
    started, started_at = time.perf_counter(), utc_now()
    run._start()
    summary = stage.run(run)
    summary = summary.model_dump(mode="json") if isinstance(summary, BaseModel) else summary
    if not run.is_main:
        return {"summary": summary}
    stats = run._finish(summary, started, started_at)
    if run.failed:
        first = next(iter(run.failed.items()))
        raise CurationError(
            f"{len(run.failed)} of {run.units['total']} units failed (first: {first[0]}: {first[1]}); "
            "the rest is written: rerun the same command to retry them"
        )
    return stats
