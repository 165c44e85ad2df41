"""Run evidence: funnel counts per stage and reason, counters, timings; mergeable across tasks.

A ``Stats`` object is filled by one worker, serialised to a dict, and merged by the driver into the
run's ``stats.json``. Layout::

    {"stages": {"<stage>": {"in": n, "out": n, "dropped": {"<reason>": n}, "seconds": s}},
     "timings": {"<block>": s},              # every timed block, funnel stage or not (e.g. decode)
     "counters": {"<name>": {"<key>": n}},   # e.g. languages, record types, errors
     "totals": {"<name>": x},                # e.g. bytes_read
     "maxima": {"<name>": x}}                # e.g. peak_rss_bytes
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class Stats:
    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        """``clock`` times the blocks: wall time by default; ``time.process_time`` gives a CPU profile."""
        self.clock = clock
        self.stages: dict[str, dict[str, Any]] = {}
        self.counters: dict[str, Counter[str]] = {}
        self.totals: dict[str, float] = {}
        self.maxima: dict[str, float] = {}
        self.timings: dict[str, float] = {}

    def _stage(self, name: str) -> dict[str, Any]:
        if name not in self.stages:
            self.stages[name] = {"in": 0, "out": 0, "dropped": Counter()}
        return self.stages[name]

    def seen(self, stage: str, n: int = 1) -> None:
        self._stage(stage)["in"] += n

    def kept(self, stage: str, n: int = 1) -> None:
        self._stage(stage)["out"] += n

    def dropped(self, stage: str, reason: str, n: int = 1) -> None:
        self._stage(stage)["dropped"][reason] += n

    def add_seconds(self, block: str, seconds: float) -> None:
        self.timings[block] = self.timings.get(block, 0.0) + seconds

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = self.clock()
        try:
            yield
        finally:
            self.add_seconds(stage, self.clock() - start)

    def count(self, counter: str, key: str, n: int = 1) -> None:
        self.counters.setdefault(counter, Counter())[key] += n

    def add(self, total: str, value: float) -> None:
        self.totals[total] = self.totals.get(total, 0) + value

    def maximum(self, name: str, value: float) -> None:
        self.maxima[name] = max(self.maxima.get(name, value), value)

    def order_stages(self, names: list[str]) -> None:
        """Put the funnel stages in pipeline order (units report them in the order they first met them)."""
        known = [n for n in names if n in self.stages]
        self.stages = {n: self.stages[n] for n in known + sorted(set(self.stages) - set(known))}

    def merge(self, other: Stats | dict[str, Any]) -> Stats:
        other = other if isinstance(other, Stats) else Stats.from_dict(other)
        for name, st in other.stages.items():
            mine = self._stage(name)
            mine["in"] += st["in"]
            mine["out"] += st["out"]
            mine["dropped"].update(st["dropped"])
        for name, seconds in other.timings.items():
            self.add_seconds(name, seconds)
        for name, counter in other.counters.items():
            self.counters.setdefault(name, Counter()).update(counter)
        for name, value in other.totals.items():
            self.add(name, value)
        for name, value in other.maxima.items():
            self.maximum(name, value)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "stages": {
                name: {
                    "in": st["in"],
                    "out": st["out"],
                    "dropped": dict(st["dropped"].most_common()),
                    "seconds": round(self.timings.get(name, 0.0), 4),
                }
                for name, st in self.stages.items()
            },
            "timings": {name: round(sec, 4) for name, sec in self.timings.items()},
            "counters": {name: dict(c.most_common()) for name, c in self.counters.items()},
            "totals": dict(self.totals),
            "maxima": dict(self.maxima),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stats:
        stats = cls()
        for name, st in data.get("stages", {}).items():
            stats.stages[name] = {
                "in": st["in"],
                "out": st["out"],
                "dropped": Counter(st.get("dropped", {})),
            }
        stats.timings = dict(data.get("timings", {}))
        stats.counters = {k: Counter(v) for k, v in data.get("counters", {}).items()}
        stats.totals = dict(data.get("totals", {}))
        stats.maxima = dict(data.get("maxima", {}))
        return stats
