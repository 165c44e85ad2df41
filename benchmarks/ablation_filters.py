"""The first finding: do the heuristic filters and the edu-classifier threshold give a better proxy model at
equal tokens? A 2 x 2 data ablation on the real sample web pages, several seeds.

Data: every WARC of ``../shared/data/bench/`` (CC-MAIN-BENCH dev) and ``../shared/data/warc/``, built for
English with ``--keep-rejected`` (kept documents pass the language presets' heuristic rules; rejected
documents are the English documents a rule, or the LID threshold, dropped). Held out, and left out of every
variant by URL: all pages of the held-out bench sites (``curation.train.evaluation.heldout``), whose gold
article texts are the evaluation set ``web_gold_en``; the held-out State of the Union addresses are
``prose_en``; ``lastword_en`` and ``continuation_en`` are the early-signal tasks built from them. A 13-gram
overlap check between the held-out gold texts and every training document is reported.

Variants (same BPE tokenizer, proxy, token budget, schedule and seeds):

- ``heuristics`` (baseline): the kept documents;
- ``no-filters``: kept + rejected, i.e. no heuristic rule and no LID threshold;
- ``heuristics-edu``: kept, and ``edu_score >= THRESHOLD`` (an edu classifier trained on the LLM-judged
  labels, without the labels of held-out pages);
- ``edu``: kept + rejected with the edu threshold only.

The budget is the same for every job (``--tokens``); variants with less data repeat it (``max_epochs`` 8):
at equal tokens, a filter's cost is repetition. Writes the ablation under ``--work`` and its tables, the
data sizes, the contamination check and CPU times to ``benchmarks/results/ablate.md`` (a fragment).

    python benchmarks/ablation_filters.py [--work /tmp/ablation-filters] [--tokens 600000] [--seeds 0 1 2]
        [--variants heuristics no-filters heuristics-edu edu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

DATA = Path(os.environ.get("CURATION_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
RESULTS = Path(__file__).resolve().parent / "results" / "ablate.md"
SETS_AND_TASKS = ["web_gold_en", "prose_en", "lastword_en", "continuation_en"]
VOCAB = 4096


def sql_not_in(column: str, values: list[str]) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{column} NOT IN ({quoted})"


def texts_of(paths: list[str], exclude: set[str]) -> list[str]:
    import polars as pl

    frames = [pl.read_parquet(p, columns=["url", "text"]) for p in paths]
    df = pl.concat(frames).filter(~pl.col("url").is_in(list(exclude)))
    return df["text"].to_list()


def prepare(work: Path, parallel: dict[str, Any]) -> dict[str, Any]:
    """Build, classifier, scores, evaluation sets, tokenizer: the ablation's inputs (each step resumes)."""
    import polars as pl

    from curation.builder.stage import Build
    from curation.core.io import expand_inputs, iter_jsonl
    from curation.filters.score import Score
    from curation.filters.training import ClassifierTrain
    from curation.mixer.tokenizer import train_bpe
    from curation.train.evaluation.evalsets import EvalSetsStage, load_evalsets

    inputs = [str(DATA / "bench"), str(DATA / "warc")]
    Build.call(lang=["en"], input=inputs, output=str(work / "build"), keep_rejected=True, **parallel)
    EvalSetsStage.call(data=str(DATA), output=str(work / "evalsets"))
    evalsets = load_evalsets(str(work / "evalsets"))
    exclude = set(evalsets["exclude_urls"])
    labels = [
        r for r in iter_jsonl(str(DATA / "labels" / "web_docs_llm_judged.jsonl")) if r["url"] not in exclude
    ]
    (work / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labels))
    edu = work / "models" / "edu"
    ClassifierTrain.call(task="edu", data=str(work / "labels.jsonl"), label_column="edu", output=str(edu))
    for part, folder in (("kept", "en"), ("rejected", "rejected")):
        Score.call(
            input=[str(work / "build" / folder)],
            output=str(work / "score" / part),
            classifier=[str(edu)],
            **parallel,
        )
    kept = [f for f in expand_inputs([str(work / "score" / "kept")]) if f.endswith(".parquet")]
    rejected = [f for f in expand_inputs([str(work / "score" / "rejected")]) if f.endswith(".parquet")]
    tokenizer = work / "tokenizer.json"
    if not tokenizer.exists():
        train_bpe(texts_of(kept + rejected, exclude), VOCAB, tokenizer)
    scores = {
        part: pl.concat([pl.read_parquet(f, columns=["url", "edu_score"]) for f in files]).filter(
            ~pl.col("url").is_in(list(exclude))
        )["edu_score"]
        for part, files in (("kept", kept), ("rejected", rejected))
    }
    return {
        "exclude": sorted(exclude),
        "kept": kept,
        "rejected": rejected,
        "tokenizer": str(tokenizer),
        "edu_scores": scores,
        "labels": len(labels),
    }


def contamination(work: Path, inputs: dict[str, Any]) -> dict[str, Any]:
    """13-gram overlap of each held-out gold text with every training document of any variant."""
    from curation.core.io import iter_jsonl
    from curation.train.evaluation.heldout import ngram_overlap

    gold = [r["text"] for r in iter_jsonl(str(work / "evalsets" / "bpb" / "web_gold_en.jsonl.gz"))]
    shares = ngram_overlap(gold, texts_of(inputs["kept"] + inputs["rejected"], set(inputs["exclude"])))
    return {"docs": len(gold), "max_share": max(shares), "docs_over_1pct": sum(s > 0.01 for s in shares)}


def spec(work: Path, inputs: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    return {
        "output": str(work / "ablation"),
        "tokenizer": inputs["tokenizer"],
        "proxy": args.proxy,
        "tokens": args.tokens,
        "seeds": args.seeds,
        "evalsets": str(work / "evalsets"),
        "eval": {"only": SETS_AND_TASKS},
        "base": {
            "sources": {
                "web": {
                    "paths": [str(work / "score" / "kept")],
                    "filter": sql_not_in("url", inputs["exclude"]),
                    "max_epochs": 8,
                }
            }
        },
        "variants": {name: v for name, v in variants(work, args).items() if name in args.variants},
        **parallel(args),
    }


def variants(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    both = [str(work / "score" / "kept"), str(work / "score" / "rejected")]
    edu = f"edu_score >= {args.edu_threshold:g}"
    return {
        "heuristics": {"description": "kept documents (heuristic rules on)"},
        "no-filters": {
            "description": "kept + rejected (no rule, no LID threshold)",
            "sources": {"web": {"paths": both}},
        },
        "heuristics-edu": {"description": f"kept, {edu}", "filter": edu},
        "edu": {
            "description": f"kept + rejected, {edu}",
            "sources": {"web": {"paths": both}},
            "filter": edu,
        },
    }


def parallel(args: argparse.Namespace) -> dict[str, Any]:
    return {"executor": args.executor, "workers": args.workers}


def fragment(summary: dict[str, Any], facts: dict[str, Any]) -> str:
    from curation.ablate.results import markdown, verdict

    beyond = [
        f"- `{variant}` vs `{summary['baseline']}` on `{metric}`: {d['delta']:+.4f} "
        f"[{d['ci_low']:+.4f}, {d['ci_high']:+.4f}], {verdict(d)}"
        for metric, m in summary["metrics"].items()
        for variant, d in m["vs_baseline"].items()
        if d["exceeds_noise"]
    ]
    seeds = len(summary["seeds"])
    lines = [
        "## Data ablation: heuristic filters and the edu threshold at equal tokens (issue 15)",
        "",
        f"`python benchmarks/ablation_filters.py --tokens {summary['tokens_per_job']} --seeds "
        f"{' '.join(map(str, summary['seeds']))} --variants {' '.join(summary['variants'])}` "
        f"({facts['machine']}, {facts['date']}). The same English web pages "
        "(CC-MAIN-BENCH dev + the other sample WARCs, `curation build --lang en --keep-rejected`), the held-out "
        f"sites' {facts['exclude_urls']} pages left out of every variant; proxy `{summary['proxy']}` "
        f"({summary['params']:,} parameters with the {VOCAB}-token BPE trained on the training pages), "
        f"{summary['tokens_per_job']:,} tokens per job ({summary['steps']} steps), {seeds} seeds, cosine schedule. "
        f"Edu classifier: TF-IDF regression on {facts['labels']} LLM-judged labels (held-out pages' labels left out); "
        f"`edu_score >= {facts['edu_threshold']:g}` keeps {facts['edu_kept_share']['kept']:.0%} of the kept and "
        f"{facts['edu_kept_share']['rejected']:.0%} of the rejected documents.",
        "",
        f"Build (held-out pages left out): {facts['kept_docs']:,} English documents kept, "
        f"{facts['rejected_docs']:,} rejected. "
        f"Contamination check (13-gram overlap of the {facts['contamination']['docs']} held-out gold texts with "
        f"every training document): largest share {facts['contamination']['max_share']:.2%}, "
        f"{facts['contamination']['docs_over_1pct']} texts above 1%.",
        "",
        markdown(summary),
        "Differences beyond seed noise (95% CI of the paired difference excludes 0 and |Δ| > the baseline's "
        "seed standard deviation):",
        "",
        *(beyond or ["- none"]),
        "",
        f"Training wall-clock summed over the jobs: {facts['train_seconds']:,.0f} s; the whole ablation "
        f"{facts['ablation_wall']:,.0f} s (a shared, loaded machine: not a speed figure).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="/tmp/ablation-filters")
    parser.add_argument("--tokens", type=int, default=600_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--proxy", default="1m")
    parser.add_argument("--edu-threshold", type=float, default=2.0)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["heuristics", "no-filters", "heuristics-edu", "edu"],
        help="variants to run, the first is the baseline",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--executor", choices=["ray", "local"], default="ray")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    inputs = prepare(work, parallel(args))
    contamination_check = contamination(work, inputs)

    from curation.ablate.stage import Ablate

    started = time.perf_counter()
    stats = Ablate.call(**spec(work, inputs, args))
    summary = stats["summary"]
    scores = inputs["edu_scores"]
    facts = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared",
        "exclude_urls": len(inputs["exclude"]),
        "labels": inputs["labels"],
        "edu_threshold": args.edu_threshold,
        "edu_kept_share": {part: float((s >= args.edu_threshold).mean()) for part, s in scores.items()},
        "kept_docs": len(scores["kept"]),
        "rejected_docs": len(scores["rejected"]),
        "contamination": contamination_check,
        "train_seconds": sum(summary["train_seconds"].values()),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "ablation_wall": time.perf_counter() - started,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(fragment(summary, facts))
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
