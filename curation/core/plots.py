"""Small matplotlib helpers for run evidence (PNG files beside stats.json, local or on object storage)."""

from __future__ import annotations

import io as bytes_io
import os
from collections.abc import Mapping, Sequence
from typing import Any

from curation.core import io


def pyplot():  # noqa: ANN201 - matplotlib.pyplot, headless
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: str | os.PathLike[str], dpi: int = 110) -> None:
    """Write ``fig`` as PNG to ``path`` (atomically, through the I/O layer) and close it."""
    buf = bytes_io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    pyplot().close(fig)
    io.write_bytes(path, buf.getvalue())


def funnel_plot(stages: Mapping[str, Mapping[str, Any]], path: str | os.PathLike[str], title: str) -> None:
    """Horizontal bars: documents into and out of each stage, in pipeline order."""
    plt = pyplot()
    names = list(stages)
    ins = [stages[n]["in"] for n in names]
    outs = [stages[n]["out"] for n in names]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.2))
    y = range(len(names))
    ax.barh(y, ins, color="#cfd8dc", label="in")
    ax.barh(y, outs, color="#2e7d32", label="out")
    for i, (a, b) in enumerate(zip(ins, outs, strict=True)):
        ax.text(a, i, f" {b:,}/{a:,}", va="center", fontsize=8)
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xlabel("documents")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    save(fig, path)


def bar_plot(
    labels: Sequence[str], values: Sequence[float], path: str | os.PathLike[str], title: str, xlabel: str
) -> None:
    fig, ax = pyplot().subplots(figsize=(7, 0.35 * len(labels) + 1.2))
    ax.barh(range(len(labels)), values, color="#1565c0")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    fig.tight_layout()
    save(fig, path)
