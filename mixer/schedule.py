"""Deterministic arithmetic of a mixture: apportionment, interleaving, and document repetition order."""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

import numpy as np


def largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` integer units in proportion to ``weights`` so the parts sum exactly to ``total``.

    Each part is the floor of its quota plus at most one unit, given to the largest remainders
    (ties go to the earlier entry). Zero weights get nothing.
    """
    w = np.asarray(weights, dtype=np.float64)
    if total == 0 or w.sum() <= 0:
        if total and w.sum() <= 0:
            raise ValueError("cannot apportion a positive total over zero weights")
        return [0] * len(w)
    quotas = total * w / w.sum()
    parts = np.floor(quotas).astype(np.int64)
    short = total - int(parts.sum())
    order = sorted(range(len(w)), key=lambda i: (-(quotas[i] - parts[i]), i))
    for i in order[:short]:
        parts[i] += 1
    return [int(p) for p in parts]


def interleave(counts: Sequence[int]) -> np.ndarray:
    """Order of sources over ``sum(counts)`` slots, each spread evenly (Tijdeman's chairman assignment).

    The j-th slot of source ``s`` is a job released at ``(j + d) / p_s`` and due by ``(j + 1 - d) / p_s``
    (``p_s`` its share, ``d = 1 / (2k - 2)`` for ``k`` sources), scheduled earliest-deadline-first. Every
    prefix then holds each source's share within ``1 - d`` (< 1) sequences, hence any window of
    consecutive slots within less than 2 (within 1 for two sources), the best bound that holds in general.
    """
    counts = [int(c) for c in counts]
    total = sum(counts)
    active = sum(1 for c in counts if c)
    d = 1 / (2 * active - 2) if active > 1 else 0.5

    def release(s: int, j: int) -> int:
        return max(0, math.ceil((j + d) * total / counts[s]) - 1)

    def deadline(s: int, j: int) -> int:
        return math.ceil((j + 1 - d) * total / counts[s]) - 1

    nxt = [0] * len(counts)
    pending = [(release(s, 0), s) for s, c in enumerate(counts) if c]
    heapq.heapify(pending)
    ready: list[tuple[int, int]] = []
    out = np.empty(total, dtype=np.int64)
    for t in range(total):
        while pending and (pending[0][0] <= t or not ready):
            _, s = heapq.heappop(pending)
            heapq.heappush(ready, (deadline(s, nxt[s]), s))
        _, s = heapq.heappop(ready)
        out[t] = s
        nxt[s] += 1
        if nxt[s] < counts[s]:
            heapq.heappush(pending, (release(s, nxt[s]), s))
    return out


def solve_repetitions(
    lengths: np.ndarray, upweights: np.ndarray, target: int, max_epochs: float
) -> np.ndarray:
    """Per-document repetition factors ``min(max_epochs, c * upweight)`` totalling ``target`` tokens."""
    w = np.asarray(upweights, dtype=np.float64)
    eligible = w > 0
    if not eligible.any():
        return np.zeros_like(w)
    if np.all(w[eligible] == w[eligible][0]):
        reps = np.where(eligible, target / float(lengths[eligible].sum()), 0.0)
        return np.minimum(reps, max_epochs)

    def total(c: float) -> float:
        return float((np.minimum(max_epochs, c * w) * lengths).sum())

    lo, hi = 0.0, 1.0
    while total(hi) < target and hi < 1e30:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if total(mid) < target else (lo, mid)
    return np.minimum(max_epochs, hi * w)


def repetition_order(
    lengths: np.ndarray, upweights: np.ndarray, target: int, max_epochs: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Stream of ``(document index, tokens taken)`` pieces totalling exactly ``target`` tokens.

    Whole passes first (document ``d`` appears in pass ``k`` while ``k < floor(reps[d])``, each pass
    shuffled), then the fractional parts: documents drawn without replacement with probability given by
    their fractional repetition (Efraimidis-Spirakis keys). The last piece is cut to hit ``target``.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    reps = solve_repetitions(lengths, upweights, target, max_epochs)
    full = np.floor(reps + 1e-12).astype(np.int64)
    frac = np.clip(reps - full, 0.0, 1.0)
    passes = [rng.permutation(np.flatnonzero(full > k)) for k in range(int(full.max(initial=0)))]
    candidates = np.flatnonzero(frac > 1e-12)
    keys = rng.random(len(candidates)) ** (1.0 / frac[candidates])
    passes.append(candidates[np.argsort(-keys, kind="stable")])
    eligible = np.flatnonzero(np.asarray(upweights) > 0)
    order = np.concatenate(passes) if passes else np.zeros(0, dtype=np.int64)
    while int(lengths[order].sum()) < target:  # only float slop can leave the stream short
        order = np.concatenate([order, rng.permutation(eligible)])
    cum = np.cumsum(lengths[order])
    last = int(np.searchsorted(cum, target))
    order = order[: last + 1]
    taken = lengths[order].copy()
    taken[-1] -= int(cum[last]) - target
    return order, taken
