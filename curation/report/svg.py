"""Plots as inline SVG strings (matplotlib, text kept as text, element ids made unique per figure)."""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from curation.core.plots import pyplot
from curation.report.thresholds import Threshold

KEPT_COLOR = "#2e7d32"
DROPPED_COLOR = "#c62828"
PALETTE = ("#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#558b2f", "#4e342e", "#283593")
_IDS = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')
_figure_ids = itertools.count()


def svg_pyplot():  # noqa: ANN201 - matplotlib.pyplot set up for inline SVG
    plt = pyplot()
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "curation-report", "font.size": 8})
    return plt


def _to_svg(fig: Any) -> str:
    """Serialise and close a figure; prefix its ids so several SVGs can share one HTML page."""
    plt = svg_pyplot()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    prefix = f"f{next(_figure_ids)}-"
    return _IDS.sub(lambda m: m.group(1) + prefix + m.group(2), text)


def _threshold_lines(ax: Any, thresholds: Sequence[Threshold]) -> None:
    for i, t in enumerate(thresholds):
        ax.axvline(t.value, color="#212121", linestyle="--", linewidth=1)
        ax.annotate(
            f"{t.op} {t.value:g} ({t.label})",
            xy=(t.value, 1 - 0.09 * (i % 4)),
            xycoords=("data", "axes fraction"),
            xytext=(3, -9),
            textcoords="offset points",
            fontsize=7,
        )


def histogram_svg(
    groups: Mapping[str, np.ndarray], title: str, thresholds: Sequence[Threshold] = (), bins: int = 30
) -> str:
    """Overlaid histograms (shared bins) of one column per group, thresholds as dashed lines; a threshold far
    outside the data (e.g. max 100,000 words) is named in the title instead of squashing the plot."""
    plt = svg_pyplot()
    values = [v[np.isfinite(v)] for v in groups.values()]
    data = np.concatenate(values) if values else np.array([])
    lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 1.0)
    margin = max(hi - lo, abs(hi), 1e-9)
    shown = [t for t in thresholds if lo - margin <= t.value <= hi + margin]
    off_scale = [t for t in thresholds if t not in shown]
    lo, hi = min([lo] + [t.value for t in shown]), max([hi] + [t.value for t in shown])
    edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
    fig, ax = plt.subplots(figsize=(4.2, 2.6))
    colors = {"kept": KEPT_COLOR, "dropped": DROPPED_COLOR}
    for i, (name, v) in enumerate(zip(groups, values, strict=True)):
        color = colors.get(name, PALETTE[i % len(PALETTE)])
        ax.hist(v, bins=edges, histtype="stepfilled", alpha=0.5, color=color, label=f"{name} ({v.size:,})")
    _threshold_lines(ax, shown)
    if off_scale:
        title += "\n(off scale: " + "; ".join(f"{t.op} {t.value:g} ({t.label})" for t in off_scale) + ")"
    ax.set_title(title)
    ax.set_ylabel("documents")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False)
    fig.tight_layout()
    return _to_svg(fig)


def bars_svg(
    labels: Sequence[str], series: Mapping[str, Sequence[float]], title: str, xlabel: str, log: bool = False
) -> str:
    """Horizontal grouped bars: one row per label, one bar per series."""
    plt = svg_pyplot()
    n = max(len(series), 1)
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(labels) * max(n, 1.5) / 1.5 + 1.2))
    height = 0.8 / n
    for i, (name, vals) in enumerate(series.items()):
        y = np.arange(len(labels)) + (i - (n - 1) / 2) * height
        color = {"kept": KEPT_COLOR, "out": KEPT_COLOR}.get(name, PALETTE[i % len(PALETTE)])
        ax.barh(y, vals, height=height, color=color, label=name)
    ax.set_yticks(np.arange(len(labels)), labels)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    if n > 1:
        ax.legend(loc="lower left", bbox_to_anchor=(1.01, 0.0), frameon=False)
    fig.tight_layout()
    return _to_svg(fig)


def lines_svg(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    xlabel: str,
    ylabel: str,
    log_y: bool = False,
) -> str:
    """Curves against a shared x axis (e.g. loss per step), one per series, markers where sparse."""
    plt = svg_pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    for i, (name, (x, y)) in enumerate(series.items()):
        ax.plot(
            x,
            y,
            marker="o" if len(x) < 40 else None,
            markersize=3,
            color=PALETTE[i % len(PALETTE)],
            label=name,
        )
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _to_svg(fig)
