"""`curation plan --spec plan.yaml`: recommend the English replay ratio (and learning rate) of a continued
pretraining run from a few proxy runs, by a fitted mixture law (``curation.ablate.law``).

The design: one `curation ablate` per proxy token budget x peak learning rate, whose variants are the replay
ratios (target weight 1 - r, replay weight r), every job continuing from ``proxy_model`` (or a new proxy). Per
learning rate, the law is fitted to the target set's and the English set's bits per byte of every run. The
recommended ratio is the *critical mixture ratio* of Gu et al. 2024 (CMR, arXiv:2407.17467) read from the fitted
surface: the smallest replay ratio whose predicted English bits per byte stays within the tolerance of the
reference (the proxy model's own English bits per byte before continued pretraining; without a proxy model, the
prediction at the largest replay ratio of the design), searched within the design's range of ratios. Among
learning rates, the one with the lowest predicted target bits per byte at its ratio wins. With two or more
budgets, the ratio is also read at the full budget (``full_tokens``: extrapolation in tokens, its factor
reported). One more run at the recommended ratio (the largest budget) checks the prediction.

Outputs: ``plan.json``, ``plan.md``, ``mix.yaml`` and ``train.yaml`` of the full run (recommended ratio, learning
rate and schedule; both validated by their stages' config models) and ``_run/plan.png`` (fitted curves, their
bootstrap bands, the runs and the validation run).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from curation.ablate.law import bootstrap, choose_form, fit, leave_one_out
from curation.ablate.spec import AblateConfig
from curation.ablate.stage import quiet
from curation.core import io
from curation.core.config import ParallelConfig, StageConfig, StrictModel, validate
from curation.core.errors import CurationError
from curation.core.stage import Run, Stage

PLAN_FILE = "plan.json"
PLAN_TABLE = "plan.md"
MIX_FILE = "mix.yaml"
TRAIN_FILE = "train.yaml"
PLOT_FILE = "plan.png"
LANGS = ("target", "replay")  # the two sources, and the two fitted languages
STEP = 0.001  # resolution of the replay ratios searched between the design's smallest and largest


class Tolerance(StrictModel):
    relative: float | None = Field(
        None, gt=0, description="English bits per byte may rise by at most this fraction of the reference."
    )
    absolute: float | None = Field(
        None, gt=0, description="Or: English bits per byte may rise by at most this much."
    )

    @model_validator(mode="after")
    def _one(self) -> Tolerance:
        if (self.relative is None) == (self.absolute is None):
            raise CurationError("tolerance: give exactly one of relative or absolute")
        return self

    def limit(self, reference: float) -> float:
        return reference * (1 + self.relative) if self.relative is not None else reference + self.absolute


class PlanConfig(StageConfig, ParallelConfig):
    """Recommend the English replay ratio and learning rate of a continued pretraining run from a few proxy runs
    (a fitted D-CPT-style law, residual-bootstrap intervals, leave-one-out error, one validation run)."""

    tokenizer: str = Field(description="Tokenizer of the proxy runs and of the full run's mix.yaml.")
    proxy_model: str | None = Field(
        None, description="Small pretrained model the proxy runs continue from (default: a new proxy)."
    )
    base_model: str | None = Field(
        None, description="The model of the full run, written into train.yaml (default: proxy_model)."
    )
    proxy: str = Field("1m", description="Proxy size (curation.train.proxy): batch, sequence, schedule.")
    target: dict[str, Any] = Field(
        description="The target-language source, as in a mixture spec (paths=...)."
    )
    replay: dict[str, Any] = Field(description="The English replay source, as in a mixture spec.")
    target_set: str = Field(
        description="Held-out bits-per-byte set of the target language (an evalsets name)."
    )
    replay_set: str = Field(description="Held-out bits-per-byte set of English.")
    evalsets: str | None = Field(None, description="`curation evalsets` output holding the two sets.")
    sets: dict[str, list[str]] = Field(
        default_factory=dict, description="Or the sets as NAME=PATH (text, JSONL, dirs, globs)."
    )
    ratios: list[float] = Field(
        default_factory=lambda: [0.0, 0.05, 0.1, 0.25, 0.5, 0.75],
        min_length=3,
        description="Replay ratios of the design (English share of the mixture).",
    )
    tokens: list[int] = Field(
        default_factory=list, description="Proxy token budgets (default: the proxy's 20 tokens/parameter)."
    )
    lrs: list[float] = Field(default_factory=list, description="Peak learning rates (default: the proxy's).")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1, description="Seeds of every run.")
    tolerance: Tolerance = Field(description="How much English may degrade: relative=0.02 or absolute=0.05.")
    full_tokens: int = Field(gt=0, description="Token budget of the full continued pretraining run.")
    full_seq_len: int = Field(2048, gt=1, description="Sequence length of the full run (mix.yaml).")
    full_batch_tokens: int = Field(524_288, gt=0, description="Tokens per step of the full run (train.yaml).")
    validate_run: bool = Field(True, description="Spend one more run at the recommended ratio to check it.")
    bootstrap: int = Field(200, ge=0, description="Residual-bootstrap refits for the intervals.")
    ablate: dict[str, Any] = Field(
        default_factory=dict,
        description="More keys of every `curation ablate` (seq_len, global_batch_tokens, schedule, eval...).",
    )

    @model_validator(mode="after")
    def _checks(self) -> PlanConfig:
        if any(not 0 <= r <= 1 for r in self.ratios) or len(set(self.ratios)) != len(self.ratios):
            raise CurationError("ratios: distinct replay ratios between 0 and 1")
        if not self.evalsets and not self.sets:
            raise CurationError("give evalsets or sets: the held-out sets of both languages")
        return self


def _name(r: float) -> str:
    return f"replay-{r:.3f}"


class Plan(Stage[PlanConfig]):
    """Mixture planner: proxy runs over replay ratios through `curation ablate`, a fitted law, a validated
    recommendation, and ready mix.yaml / train.yaml."""

    name = "plan"
    config_model = PlanConfig
    config_flags = ("--spec", "-s", "--config", "-c")

    @cached_property
    def proxy_defaults(self) -> tuple[int, float]:
        """Tokens per step of the proxy runs, and the proxy's own peak learning rate."""
        from curation.train.proxy import proxy

        size = proxy(self.cfg.proxy)
        return self.cfg.ablate.get("global_batch_tokens") or size.global_batch_tokens, size.lr

    def ablate_config(
        self, output: str, tokens: int | None, lr: float | None, ratios: list[float], seeds: list[int]
    ) -> dict[str, Any]:
        cfg = self.cfg
        variants = {}
        for r in ratios:
            sources = {
                "target": {"weight": 1 - r} if r < 1 else None,
                "replay": {"weight": r} if r > 0 else None,
            }
            variants[_name(r)] = {"description": f"replay ratio {r:g}", "sources": sources}
        extra = dict(cfg.ablate)
        if lr is not None:
            steps = max(1, (tokens or 0) // self.proxy_defaults[0])
            schedule = extra.get("schedule") or {"kind": "cosine", "warmup_steps": max(1, steps // 20)}
            extra["schedule"] = {**schedule, "lr": lr, "min_lr": lr / 10}
        evaluation = {"curve_points": 0, **extra.pop("eval", {}), "sets": cfg.sets}
        if cfg.evalsets:
            evaluation["only"] = [cfg.target_set, cfg.replay_set]
        return {
            **extra,
            "output": output,
            "tokenizer": cfg.tokenizer,
            "proxy": cfg.proxy,
            "init_model": cfg.proxy_model,
            "tokens": tokens,
            "seeds": seeds,
            "evalsets": cfg.evalsets,
            "eval": evaluation,
            "base": {"sources": {"target": dict(cfg.target), "replay": dict(cfg.replay)}},
            "variants": variants,
            "executor": cfg.executor,
            "workers": cfg.workers,
            "ray_address": cfg.ray_address,
            "storage_options": cfg.storage_options,
        }

    def design(self) -> list[tuple[int | None, float | None]]:
        return [(t, lr) for t in (self.cfg.tokens or [None]) for lr in (self.cfg.lrs or [None])]

    def resolved(self) -> dict[str, Any]:
        cfg = self.cfg
        for tokens, lr in self.design():  # every ablation valid before any run
            validate(AblateConfig, self.ablate_config(cfg.output, tokens, lr, cfg.ratios, cfg.seeds))
        return {"runs": len(self.design()) * len(cfg.ratios) * len(cfg.seeds), "design": self.design()}

    def run_ablation(
        self, folder: str, tokens: int | None, lr: float | None, ratios: list[float], seeds: list[int]
    ) -> list[dict[str, Any]]:
        """One `curation ablate`; per job: ratio, seed, tokens, lr and the two sets' bits per byte."""
        from curation.ablate.stage import Ablate

        cfg = self.cfg
        with quiet():
            summary = Ablate.call(**self.ablate_config(folder, tokens, lr, ratios, seeds))["summary"]
        metrics = summary["metrics"]
        return [
            {
                "ratio": r,
                "seed": seed,
                "tokens": summary["tokens_per_job"],
                "lr": lr,
                "target": metrics[f"bpb/{cfg.target_set}"]["variants"][_name(r)]["values"][str(seed)],
                "replay": metrics[f"bpb/{cfg.replay_set}"]["variants"][_name(r)]["values"][str(seed)],
            }
            for r in ratios
            for seed in seeds
        ]

    def reference(self) -> dict[str, float] | None:
        """The proxy model's bits per byte on both sets before continued pretraining."""
        from curation.train.evaluation.stage import Evaluate

        cfg = self.cfg
        if not cfg.proxy_model:
            return None
        only = [cfg.target_set, cfg.replay_set] if cfg.evalsets else None
        with quiet():
            out = Evaluate.call(
                model=cfg.proxy_model,
                tokenizer=cfg.tokenizer,
                evalsets=cfg.evalsets,
                sets=cfg.sets,
                only=only,
                output=io.join(cfg.output, "reference"),
                **{
                    k: v
                    for k, v in cfg.ablate.get("eval", {}).items()
                    if k in ("max_bytes_per_set", "batch_size")
                },
            )["summary"]
        return {
            lang: out["bpb"][name]["bpb"]
            for lang, name in zip(LANGS, (cfg.target_set, cfg.replay_set), strict=True)
        }

    def run(self, run: Run) -> dict[str, Any]:
        cfg = self.cfg
        reference = self.reference()
        runs = []
        for tokens, lr in self.design():
            folder = io.join(cfg.output, "ablate", f"tokens{tokens or 'rule'}-lr{lr or 'proxy'}")
            runs += self.run_ablation(folder, tokens, lr, cfg.ratios, cfg.seeds)
        by_lr = {}
        for lr in cfg.lrs or [None]:
            rows = [r for r in runs if r["lr"] == lr]
            by_lr[str(lr)] = fit_lr(rows, reference, cfg)
        best = min(by_lr, key=lambda k: by_lr[k]["recommended"]["predicted"]["target"])
        chosen = by_lr[best]
        lr = None if best == "None" else float(best)
        summary: dict[str, Any] = {
            "law": chosen["law"]["target"]["form"],
            "reference": reference,
            "tolerance": cfg.tolerance.model_dump(exclude_none=True),
            "runs": runs,
            "fits": by_lr,
            "chosen": best,
            "lr": lr if lr is not None else self.proxy_defaults[1],
            "recommended": chosen["recommended"],
            "full": chosen["full"],
        }
        if cfg.validate_run:
            rec = chosen["recommended"]
            measured = self.run_ablation(
                io.join(cfg.output, "validate"), rec["tokens"], lr, [rec["ratio"]], cfg.seeds[:1]
            )[0]
            summary["validation"] = {
                "ratio": rec["ratio"],
                "tokens": measured["tokens"],
                "measured": {lang: measured[lang] for lang in LANGS},
                "predicted": rec["predicted"],
                "relative_error": {lang: measured[lang] / rec["predicted"][lang] - 1 for lang in LANGS},
                "within_interval": {
                    lang: rec["interval"][lang][0] <= measured[lang] <= rec["interval"][lang][1]
                    for lang in LANGS
                    if rec["interval"][lang]
                },
            }
        ratio = summary["full"]["ratio"] if summary["full"] else chosen["recommended"]["ratio"]
        summary["mix"], summary["train"] = self.write_configs(ratio, summary["lr"])
        io.write_json(io.join(cfg.output, PLAN_FILE), summary)
        io.write_text(io.join(cfg.output, PLAN_TABLE), markdown(summary))
        return summary

    def write_configs(self, ratio: float, lr: float) -> tuple[str, str]:
        """mix.yaml and train.yaml of the full run, validated by `curation mix` and `curation train`."""
        import yaml

        from curation.mixer.spec import MixSpec
        from curation.train.config import TrainConfig

        cfg = self.cfg
        sources = {"target": {**cfg.target, "weight": round(1 - ratio, 6)}}
        if ratio > 0:
            sources["replay"] = {**cfg.replay, "weight": round(ratio, 6)}
        mix = {
            "output": "mix",
            "tokenizer": cfg.tokenizer,
            "seq_len": cfg.full_seq_len,
            "total_tokens": cfg.full_tokens,
            "seed": 0,
            "sources": sources,
        }
        steps = max(1, cfg.full_tokens // cfg.full_batch_tokens)
        model = cfg.base_model or cfg.proxy_model
        train = {
            "data": "pack",
            "output": "cpt",
            "model": {"name_or_path": model or "BASE_MODEL"},
            "max_steps": steps,
            "global_batch_tokens": cfg.full_batch_tokens,
            "schedule": {"kind": "cosine", "lr": lr, "min_lr": lr / 10, "warmup_steps": max(1, steps // 100)},
        }
        validate(MixSpec, mix)
        validate(TrainConfig, train)
        note = f"# curation plan: replay ratio {ratio:.3f}, peak lr {lr:g} (see plan.json)\n"
        paths = io.join(cfg.output, MIX_FILE), io.join(cfg.output, TRAIN_FILE)
        for path, body, then in (
            (paths[0], mix, "# then: curation pack --manifest mix -o pack\n"),
            (
                paths[1],
                train,
                "# after: curation mix --config mix.yaml; curation pack --manifest mix -o pack\n",
            ),
        ):
            io.write_text(path, note + then + yaml.safe_dump(body, sort_keys=False, allow_unicode=True))
        return paths

    def plot(self, stats: dict[str, Any], run: Run) -> None:
        plot_plan(stats["summary"], io.join(run.run_dir, PLOT_FILE))

    def render(self, stats: dict[str, Any]) -> Any:
        from rich.console import Group

        from curation.mixer.manifest import table

        return Group(*(table(title, header, rows) for title, header, rows in plan_tables(stats["summary"])))


def fit_lr(rows: list[dict[str, Any]], reference: dict[str, float] | None, cfg: PlanConfig) -> dict[str, Any]:
    """Fit both languages' laws to one learning rate's runs; the recommended ratio, its interval, the
    leave-one-out errors and, with two or more budgets, the ratio at the full budget."""
    tokens = np.array([r["tokens"] for r in rows], dtype=float)
    replay = np.array([r["ratio"] for r in rows])
    shares = {"target": 1 - replay, "replay": replay}
    form = choose_form(tokens)
    law, boots, loo = {}, {}, {}
    for lang in LANGS:
        y = np.array([r[lang] for r in rows])
        law[lang] = fit(tokens, shares[lang], y, form)
        boots[lang] = bootstrap(tokens, shares[lang], y, law[lang], cfg.bootstrap, seed=0)
        loo[lang] = leave_one_out(tokens, shares[lang], y, law[lang])
    lo, hi = min(cfg.ratios), max(cfg.ratios)
    grid = np.round(np.arange(lo, hi + STEP / 2, STEP), 3)
    d_max = float(tokens.max())

    def critical(english: Any, d: float) -> tuple[float, bool, float]:
        ref = reference["replay"] if reference else float(english(d, hi))
        limit = cfg.tolerance.limit(ref)
        ok = english(np.full_like(grid, d), grid) <= limit
        return (float(grid[np.argmax(ok)]), True, limit) if ok.any() else (hi, False, limit)

    def at(d: float) -> dict[str, Any]:
        ratio, feasible, limit = critical(law["replay"], d)
        ratios = [critical(b, d)[0] for b in boots["replay"]]
        predicted = {lang: float(law[lang](d, s)) for lang, s in (("target", 1 - ratio), ("replay", ratio))}
        interval = {
            lang: [float(x) for x in np.percentile([b(d, s) for b in boots[lang]], [5, 95])]
            if boots[lang]
            else None
            for lang, s in (("target", 1 - ratio), ("replay", ratio))
        }
        return {
            "tokens": int(d),
            "ratio": ratio,
            "ratio_interval": [float(x) for x in np.percentile(ratios, [5, 95])] if ratios else None,
            "feasible": feasible,
            "english_limit": limit,
            "predicted": predicted,
            "interval": interval,
        }

    full = None
    if form == "dcpt":
        full = at(float(cfg.full_tokens)) | {"extrapolation": cfg.full_tokens / d_max}
    coarse = np.linspace(lo, hi, 51)  # the curves of the plot and the report
    curves = {
        str(int(d)): {
            "ratio": coarse.tolist(),
            **{lang: law[lang](d, s).tolist() for lang, s in (("target", 1 - coarse), ("replay", coarse))},
        }
        for d in sorted(set(tokens.tolist()))
    }
    return {
        "law": {lang: law[lang].as_dict() for lang in LANGS},
        "bootstrap_fits": {lang: len(boots[lang]) for lang in LANGS},
        "leave_one_out": {
            lang: {
                "relative_errors": loo[lang],
                "mean_abs": float(np.mean(np.abs(loo[lang]))),
                "max_abs": float(np.max(np.abs(loo[lang]))),
            }
            for lang in LANGS
        },
        "recommended": at(d_max),
        "full": full,
        "curves": curves,
    }


def plan_tables(s: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of the plan: the runs, the recommendation and its check."""
    runs = [
        [
            f"{r['ratio']:g}",
            f"{r['tokens']:,}",
            f"{r['lr']:g}" if r["lr"] else "proxy",
            str(r["seed"]),
            f"{r['target']:.4f}",
            f"{r['replay']:.4f}",
        ]
        for r in s["runs"]
    ]
    rec = s["recommended"]
    rows = [
        ["recommended replay ratio", f"{rec['ratio']:.3f}", _interval(rec["ratio_interval"], 3)],
        ["within tolerance", "yes" if rec["feasible"] else "NO: largest ratio of the design", ""],
        ["English limit (bpb)", f"{rec['english_limit']:.4f}", ""],
        ["peak learning rate", f"{s['lr']:g}", ""],
    ]
    for lang in LANGS:
        rows.append(
            [f"predicted {lang} bpb", f"{rec['predicted'][lang]:.4f}", _interval(rec["interval"][lang], 4)]
        )
    if s.get("validation"):
        v = s["validation"]
        for lang in LANGS:
            rows.append(
                [
                    f"measured {lang} bpb (validation run)",
                    f"{v['measured'][lang]:.4f}",
                    f"{v['relative_error'][lang]:+.2%} vs predicted",
                ]
            )
    fits = s["fits"][s["chosen"]]
    for lang in LANGS:
        e = fits["leave_one_out"][lang]
        rows.append([f"leave-one-out error, {lang}", f"{e['mean_abs']:.2%} mean", f"{e['max_abs']:.2%} max"])
    if s["full"]:
        f = s["full"]
        rows.append(
            [
                f"ratio at the full budget ({f['tokens']:,} tokens)",
                f"{f['ratio']:.3f}",
                f"{f['extrapolation']:.1f}x beyond the largest proxy budget {_interval(f['ratio_interval'], 3)}",
            ]
        )
    title = f"curation plan: law {s['law']}, recommendation at {rec['tokens']:,} proxy tokens"
    return [
        (
            "proxy runs (held-out bits per byte)",
            ["replay", "tokens", "lr", "seed", "target", "English"],
            runs,
        ),
        (title, ["", "value", "interval (5-95%, bootstrap) / note"], rows),
    ]


def _interval(iv: list[float] | None, digits: int) -> str:
    return f"[{iv[0]:.{digits}f}, {iv[1]:.{digits}f}]" if iv else ""


def markdown(s: dict[str, Any]) -> str:
    from curation.ablate.results import md_tables

    return md_tables(plan_tables(s))


def plot_plan(s: dict[str, Any], path: str) -> None:
    """Per language: the fitted law against the replay ratio per budget, the runs, the recommendation, the
    English limit and the validation run."""
    from curation.core.plots import pyplot, save

    plt = pyplot()
    fits = s["fits"][s["chosen"]]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, lang, title in zip(axes, LANGS, ("target language", "English (replay)"), strict=True):
        for d, curve in fits["curves"].items():
            (line,) = ax.plot(curve["ratio"], curve[lang], label=f"law, {int(d):,} tokens")
            runs = [r for r in s["runs"] if r["tokens"] == int(d) and str(r["lr"]) == s["chosen"]]
            ax.scatter([r["ratio"] for r in runs], [r[lang] for r in runs], color=line.get_color(), zorder=3)
        rec = s["recommended"]
        ax.axvline(rec["ratio"], color="gray", linestyle="--", label=f"recommended {rec['ratio']:.3f}")
        if lang == "replay":
            ax.axhline(rec["english_limit"], color="red", linestyle=":", label="English limit")
        if s.get("validation"):
            v = s["validation"]
            ax.scatter(
                [v["ratio"]],
                [v["measured"][lang]],
                marker="*",
                s=160,
                color="black",
                zorder=4,
                label="validation run",
            )
        ax.set(title=title, xlabel="replay ratio (English share)", ylabel="held-out bits per byte")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, path)
