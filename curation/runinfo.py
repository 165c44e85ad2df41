"""The evidence every command leaves in ``<output>/_run/``: resolved config, stats, completion parts."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from curation import __version__
from curation.io import atomic_write_json, atomic_write_yaml
from curation.schema import CONFIG_FILE, PARTS_DIR, RUN_DIR, STATS_FILE


def run_dir(output: str | os.PathLike[str]) -> Path:
    return Path(output) / RUN_DIR


def save_config(output: str | os.PathLike[str], command: str, config: dict[str, Any]) -> Path:
    """Write the resolved config of ``command`` to ``<output>/_run/config.yaml`` (also records versions)."""
    path = run_dir(output) / CONFIG_FILE
    atomic_write_yaml(
        path,
        {
            "command": command,
            "curation_version": __version__,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "config": config,
        },
    )
    return path


def save_stats(output: str | os.PathLike[str], stats: dict[str, Any]) -> Path:
    path = run_dir(output) / STATS_FILE
    atomic_write_json(path, stats)
    return path


def load_stats(output: str | os.PathLike[str]) -> dict[str, Any]:
    return json.loads((run_dir(output) / STATS_FILE).read_text())


def part_path(output: str | os.PathLike[str], key: str) -> Path:
    """Completion record of one unit of work (one input file): written last, after its shards."""
    return run_dir(output) / PARTS_DIR / f"{key}.json"


def load_parts(output: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    parts_dir = run_dir(output) / PARTS_DIR
    if not parts_dir.is_dir():
        return {}
    return {p.stem: json.loads(p.read_text()) for p in sorted(parts_dir.glob("*.json"))}
