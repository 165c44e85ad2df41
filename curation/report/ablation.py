"""The ablation section: each `curation ablate` output's tables (data per variant, mean ± std over seeds,
paired differences to the baseline) and its learning curves, from the summary in its stats.json; and the
results of standalone `curation eval` runs."""

from __future__ import annotations

from collections.abc import Sequence

from curation.report.collect import StageRun, of_command, summary_of
from curation.report.html import Section, esc, not_run, plot, table
from curation.report.svg import lines_svg


def _ablation_html(stage: StageRun) -> str:
    from curation.ablate.results import result_tables

    summary = summary_of(stage)
    parts = [f"<h3>{esc(stage.name)}: ablation, baseline {esc(summary['baseline'])}</h3>"]
    for title, header, rows in result_tables(summary):
        parts.append(f'<p class="note">{esc(title)}</p>')
        parts.append(table(header, rows))
    curve_plots = [
        plot(
            lines_svg(
                {variant: (c["tokens"], c["mean"]) for variant, c in by_variant.items()},
                f"{name}: held-out bits per byte (mean over seeds)",
                "training tokens",
                "bits per byte",
            )
        )
        for name, by_variant in summary["curves"].items()
    ]
    if curve_plots:
        parts.append(f'<div class="grid">{"".join(curve_plots)}</div>')
    return "".join(parts)


def _eval_html(stage: StageRun) -> str:
    from curation.train.evaluation.stage import result_rows

    summary = summary_of(stage)
    rows = result_rows(summary)
    skipped = (summary.get("lm_eval") or {}).get("skipped")
    note = f'<p class="note">lm-eval: {esc(skipped)}</p>' if skipped else ""
    header = ("set or task", "metric", "value", "± stderr", "n")
    return f"<h3>{esc(stage.name)}: evaluation of {esc(summary['model'])}</h3>{table(header, rows)}{note}"


def ablation_section(stages: Sequence[StageRun]) -> Section:
    title = "Ablations and evaluations"
    ablations = [s for s in of_command(stages, "ablate") if summary_of(s)]
    evals = [s for s in of_command(stages, "eval") if summary_of(s)]
    if not ablations and not evals:
        return not_run("ablation", title, "no curation ablate or curation eval output")
    body = "".join(_ablation_html(s) for s in ablations) + "".join(_eval_html(s) for s in evals)
    return Section("ablation", title, body)


def _plan_html(stage: StageRun) -> str:
    from curation.ablate.plan import LANGS, plan_tables

    summary = summary_of(stage)
    parts = [f"<h3>{esc(stage.name)}: mixture plan, law {esc(summary['law'])}</h3>"]
    for title, header, rows in reversed(plan_tables(summary)):
        parts.append(f'<p class="note">{esc(title)}</p>')
        parts.append(table(header, rows))
    curves = summary["fits"][summary["chosen"]]["curves"]
    names = {"target": "target language", "replay": "English"}
    plots = [
        plot(
            lines_svg(
                {f"law, {int(d):,} tokens": (c["ratio"], c[lang]) for d, c in curves.items()},
                f"{names[lang]}: fitted held-out bits per byte",
                "replay ratio (English share)",
                "bits per byte",
            )
        )
        for lang in LANGS
    ]
    parts.append(f'<div class="grid">{"".join(plots)}</div>')
    return "".join(parts)


def plan_section(stages: Sequence[StageRun]) -> Section:
    plans = [s for s in of_command(stages, "plan") if summary_of(s)]
    if not plans:
        return not_run("plan", "Mixture plan", "no curation plan output")
    return Section("plan", "Mixture plan", "".join(_plan_html(s) for s in plans))
