"""The mixture law `curation plan` fits: held-out bits per byte of one language as a function of its share of
the training mixture and of the training tokens, after Que et al. 2024, *D-CPT Law* (arXiv:2406.01375), at a
fixed model size::

    L(D, s) = E + B · (s + ε)^η / D^β + C / (s + ε)^γ          (``dcpt``: 7 parameters, two or more budgets)
    L(s)    = E + C / (s + ε)^γ                                 (``share``: 4 parameters, one budget)

``s`` is the language's own share (the target language: 1 - r; English: the replay ratio r), ``D`` the
training tokens in units of the largest proxy budget. D-CPT's model-size term ``A / N^α`` is a constant at one
proxy size and folds into ``E``; its ``r^η`` is taken at ``s + ε`` so that a run with share 0 (no replay) keeps
the ``D`` dependence (forgetting that grows with tokens). Fits minimise relative residuals (bits per byte differ
by language) from several starts within bounds (``E, C >= 0``; ``0 <= γ, β <= 3``; ``|η| <= 3``;
``1e-3 <= ε <= 1``).

Uncertainty: a residual bootstrap over the runs (each run's fitted value times one plus a relative residual
drawn from the runs' residuals, refit) gives intervals for every prediction and for the recommended ratio;
leave-one-out refits predict each run from the others. Refits start from the full fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FORMS = {
    "dcpt": ("E", "B", "eta", "beta", "C", "gamma", "eps"),
    "share": ("E", "C", "gamma", "eps"),
}
_BOUNDS = {
    "E": (0.0, np.inf),
    "B": (-np.inf, np.inf),
    "eta": (-3.0, 3.0),
    "beta": (0.0, 3.0),
    "C": (0.0, np.inf),
    "gamma": (0.0, 3.0),
    "eps": (1e-3, 1.0),
}
_STARTS = {"gamma": (0.3, 1.0), "eps": (0.02, 0.2)}


def predict(form: str, params: np.ndarray, d: np.ndarray, s: np.ndarray) -> np.ndarray:
    p = dict(zip(FORMS[form], params, strict=True))
    shifted = np.asarray(s, dtype=float) + p["eps"]
    out = p["E"] + p["C"] / shifted ** p["gamma"]
    if form == "dcpt":
        out = out + p["B"] * shifted ** p["eta"] / np.asarray(d, dtype=float) ** p["beta"]
    return out


@dataclass(frozen=True)
class Fit:
    """One fitted law: its form, parameters and the token unit ``D`` is measured in."""

    form: str
    params: np.ndarray
    token_unit: float

    def __call__(self, tokens: Any, share: Any) -> np.ndarray:
        return predict(self.form, self.params, np.asarray(tokens, dtype=float) / self.token_unit, share)

    def as_dict(self) -> dict[str, Any]:
        return {
            "form": self.form,
            "params": dict(zip(FORMS[self.form], map(float, self.params), strict=True)),
            "token_unit": self.token_unit,
        }


def _starts(form: str, y: np.ndarray) -> list[np.ndarray]:
    lo, spread = float(y.min()), float(y.max() - y.min()) or 0.01 * float(y.min())
    grid = [
        {"E": lo - spread * 0.5, "B": b, "eta": 0.5, "beta": 0.3, "C": spread * 0.1, "gamma": g, "eps": e}
        for g in _STARTS["gamma"]
        for e in _STARTS["eps"]
        for b in ((spread, -spread) if form == "dcpt" else (0.0,))
    ]
    return [np.array([max(start[k], 0.0) if k == "E" else start[k] for k in FORMS[form]]) for start in grid]


def fit(
    tokens: np.ndarray,
    shares: np.ndarray,
    values: np.ndarray,
    form: str,
    start: np.ndarray | None = None,
    unit: float | None = None,
) -> Fit:
    """Least squares on relative residuals, from ``start`` or from a small grid of starts (best kept); ``D`` in
    units of ``unit`` (default: the largest budget)."""
    from scipy.optimize import least_squares

    unit = unit or float(np.max(tokens))
    d, s, y = np.asarray(tokens, dtype=float) / unit, np.asarray(shares, dtype=float), np.asarray(values)
    lower = [_BOUNDS[k][0] for k in FORMS[form]]
    upper = [_BOUNDS[k][1] for k in FORMS[form]]

    def residuals(p: np.ndarray) -> np.ndarray:
        return predict(form, p, d, s) / y - 1.0

    best = None
    for x0 in [start] if start is not None else _starts(form, y):
        x0 = np.clip(x0, lower, upper)
        result = least_squares(residuals, x0, bounds=(lower, upper), method="trf", max_nfev=500)
        if best is None or result.cost < best.cost:
            best = result
    assert best is not None
    return Fit(form, best.x, unit)


def choose_form(tokens: np.ndarray) -> str:
    """D-CPT's surface needs runs at two or more budgets; one budget fits the share term only."""
    return "dcpt" if len(set(np.asarray(tokens).tolist())) > 1 else "share"


def leave_one_out(tokens: np.ndarray, shares: np.ndarray, values: np.ndarray, point: Fit) -> list[float]:
    """The relative error of each run's prediction by the law fitted to the other runs (from the full fit)."""
    errors = []
    for i in range(len(values)):
        keep = np.arange(len(values)) != i
        f = fit(tokens[keep], shares[keep], values[keep], point.form, point.params, point.token_unit)
        errors.append(float(f(tokens[i], shares[i]) / values[i] - 1.0))
    return errors


def bootstrap(
    tokens: np.ndarray, shares: np.ndarray, values: np.ndarray, point: Fit, n: int, seed: int
) -> list[Fit]:
    """Refits on ``n`` bootstrap replicates of the runs: each run's fitted value times one plus a relative
    residual drawn, with replacement, from the runs' residuals (a residual bootstrap: every replicate keeps
    the design, so it works with barely more runs than parameters; there is no degrees-of-freedom inflation,
    so the intervals are optimistic when the runs barely outnumber the parameters)."""
    rng = np.random.default_rng(seed)
    fitted = point(tokens, shares)
    residuals = values / fitted - 1.0
    replicates = (fitted * (1 + rng.choice(residuals, len(values))) for _ in range(n))
    return [fit(tokens, shares, y, point.form, point.params, point.token_unit) for y in replicates]
