"""Heuristic filters across languages: clean UDHR prose kept with a preset fitted per language, junk bench
pages still rejected, and builds in non-Latin scripts. Results: ``benchmarks/results/languages.md``.

``python benchmarks/languages.py udhr [DATA]``  every UDHR translation with at least 5 KB of text
    (``text/multi/udhr2``). Its non-empty lines are split in two halves by characters; a preset is fitted
    (``curation presets fit``'s code, defaults: 1% quantile, 10% margin) on the first half cut into documents
    of ``DOC_CHARS`` characters, and the second half, cut the same way, is judged with it. A *clean paragraph*
    is a line of the judged half at least 30% as long as the file's median line (headings such as "Article
    12" fall out); it is kept when its document passes every rule and the line survives the C4 line rules.
    The same paragraphs judged with the status quo (the shipped preset, or the defaults without stop words
    where none is shipped) are the baseline. Reported per language and per script family.
``python benchmarks/languages.py bench [DATA] OUT``  junk pages of CC-MAIN-BENCH (dev part), built twice with
    `curation build` (``--keep-rejected``): with the status-quo presets and with presets fitted on the whole
    UDHR of each page's language. Page sets are fixed by the data, not by our rules: *account pages* are
    Formasaurus pages whose gold forms include a login, registration or password-recovery form; *listing
    pages* are the autopager pages (pagination index pages); *lorem ipsum* pages have "lorem ipsum" in their
    raw HTML; *spam* is the CC-MAIN-2020-34 excerpt of ``warc/``, described by its source as mostly spammy.
    For each set: pages that reached the rules (extracted, in a built language), and how many were rejected.
``python benchmarks/languages.py compare [DATA]``  for pt, es, fr, de, en: the limits fitted on their UDHR (and
    Machado de Assis for pt, the inaugural addresses for en) beside the hand-written presets, with and without
    ``tighten``.
``python benchmarks/languages.py builds [DATA] OUT``  `curation build --lang L` for ja, zh and ru on the
    ClueWeb09 Japanese WARC and the bench WARCs: pages kept, bench pages of that language with extraction
    gold kept, and the funnel.
``python benchmarks/languages.py changes [DATA] OUT``  the junk pages whose outcome differs between the two
    builds of ``bench`` (its OUT folder).
``python benchmarks/languages.py report``  ``benchmarks/results/languages.md`` from the JSON results of the
    modes above (``benchmarks/results/languages_<mode>.json``, each with its date, machine and commit).
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
import unicodedata
from collections import Counter, defaultdict
from itertools import accumulate
from pathlib import Path
from statistics import median
from typing import Any

DOC_CHARS = 1000
MIN_BYTES = 5000
HAND_WRITTEN = ("pt", "es", "fr", "de", "en")
SPAM_WARC = "cc-main-2020-34_resiliparse-warcfile.warc.gz"
CLUEWEB_JA = "clueweb09-ja_resiliparse-clueweb-quirk.warc.gz"
PRE_RULE_REASONS = {"other_language", "low_lang_score"}
FAMILIES = {
    "LATIN": "Latin",
    "CYRILLIC": "Cyrillic",
    "GREEK": "Greek",
    "ARMENIAN": "Armenian/Georgian",
    "GEORGIAN": "Armenian/Georgian",
    "ARABIC": "Arabic/Hebrew/Syriac",
    "HEBREW": "Arabic/Hebrew/Syriac",
    "SYRIAC": "Arabic/Hebrew/Syriac",
    "THAANA": "Arabic/Hebrew/Syriac",
    "CJK": "CJK (Han, kana, Hangul)",
    "HIRAGANA": "CJK (Han, kana, Hangul)",
    "KATAKANA": "CJK (Han, kana, Hangul)",
    "HANGUL": "CJK (Han, kana, Hangul)",
    "YI": "CJK (Han, kana, Hangul)",
    "THAI": "Southeast Asian/Tibetan (no spaces)",
    "LAO": "Southeast Asian/Tibetan (no spaces)",
    "KHMER": "Southeast Asian/Tibetan (no spaces)",
    "MYANMAR": "Southeast Asian/Tibetan (no spaces)",
    "TIBETAN": "Southeast Asian/Tibetan (no spaces)",
    **dict.fromkeys(
        "DEVANAGARI BENGALI GURMUKHI GUJARATI ORIYA TAMIL TELUGU KANNADA MALAYALAM SINHALA".split(), "Indic"
    ),
}


def script_of(text: str) -> str:
    names = Counter(unicodedata.name(c, "?").split()[0] for c in text if c.isalpha())
    return names.most_common(1)[0][0] if names else "?"


def udhr_files(data: Path) -> list[Path]:
    folder = data / "text" / "multi" / "udhr2"
    return [
        p for p in sorted(folder.glob("*.txt")) if len(p.read_text(encoding="utf-8").encode()) >= MIN_BYTES
    ]


def lang_of(path: Path) -> str:
    from curation.core.lang import normalise

    return normalise(path.stem.split("_")[0])


def judge(docs: list[list[str]], preset: Any, floor: float) -> tuple[int, int, Counter[str]]:
    """Clean paragraphs (lines of at least ``floor`` characters) in ``docs``, how many were kept, and why the
    others were lost (the drop reason of their document, or the C4 line rules)."""
    from curation.filters import heuristics

    kept, total, reasons = 0, 0, Counter()
    for doc in docs:
        cleaned, signals = heuristics.measure("\n".join(doc), preset)
        reason = next(
            (r for rule in heuristics.RULES if (r := rule.reason(signals, preset.settings(rule)))), None
        )
        mine = [line for line in doc if len(line) >= floor]
        total += len(mine)
        if reason:
            reasons[reason] += len(mine)
            continue
        survived = set(cleaned.split("\n"))
        kept += sum(line in survived for line in mine)
        reasons["c4_line_removed"] += sum(line not in survived for line in mine)
    return kept, total, reasons


def udhr(data: Path) -> dict[str, Any]:
    from curation.filters.heuristics.fit import PresetsFitConfig, chunk_lines, fit_texts
    from curation.filters.heuristics.presets import load_preset, preset_model

    cfg = PresetsFitConfig(lang="und", reference=["-"], output="-", doc_chars=DOC_CHARS)
    rows = []
    for path in udhr_files(data):
        started = time.process_time()
        lines = [s for s in (raw.strip() for raw in path.read_text(encoding="utf-8").splitlines()) if s]
        total = sum(map(len, lines))
        split = next(i for i, chars in enumerate(accumulate(map(len, lines))) if chars >= total / 2)
        fit_part, judged = lines[: split + 1], lines[split + 1 :]
        floor = 0.3 * median(map(len, lines))
        lang = lang_of(path)
        fitted, _ = fit_texts(lang, ["\n".join(d) for d in chunk_lines(fit_part, DOC_CHARS)], cfg)
        docs = chunk_lines(judged, DOC_CHARS)
        kept_fit, paragraphs, reasons_fit = judge(
            docs, preset_model().model_validate({"lang": lang, **fitted}), floor
        )
        kept_old, _, reasons_old = judge(docs, load_preset(lang, status_quo(lang)), floor)
        script = script_of("".join(lines))
        rows.append(
            {
                "file": path.stem,
                "lang": lang,
                "script": script,
                "family": FAMILIES.get(script, "Other"),
                "paragraphs": paragraphs,
                "kept_fitted": kept_fit,
                "kept_status_quo": kept_old,
                "lost_fitted": dict(reasons_fit - Counter()),
                "lost_status_quo": dict(reasons_old - Counter()),
                "unspaced": "c4" in fitted and fitted["c4"].get("min_chars_per_line") is not None,
                "cpu_seconds": round(time.process_time() - started, 3),
            }
        )
        print(path.stem, lang, script, paragraphs, kept_fit, kept_old, file=sys.stderr)
    return {"doc_chars": DOC_CHARS, "rows": rows}


def _share(kept: int, n: int) -> float:
    return kept / n if n else 1.0


def udhr_markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    fam: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        fam[r["family"]].append(r)
    out = [
        "| script family | languages | paragraphs | kept, fitted | langs >= 95% kept, fitted | kept, status quo | langs >= 95% kept, status quo |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, group in sorted(fam.items(), key=lambda kv: -len(kv[1])) + [("**all**", rows)]:
        n = sum(r["paragraphs"] for r in group)
        ok_fit = sum(_share(r["kept_fitted"], r["paragraphs"]) >= 0.95 for r in group)
        ok_old = sum(_share(r["kept_status_quo"], r["paragraphs"]) >= 0.95 for r in group)
        out.append(
            f"| {name} | {len(group)} | {n} | {_share(sum(r['kept_fitted'] for r in group), n):.1%} | "
            f"{ok_fit} ({ok_fit / len(group):.1%}) | {_share(sum(r['kept_status_quo'] for r in group), n):.1%} | "
            f"{ok_old} ({ok_old / len(group):.1%}) |"
        )
    failing = [r for r in rows if _share(r["kept_fitted"], r["paragraphs"]) < 0.95]
    out += [
        "",
        f"Target (at least 95% of clean paragraphs kept in at least 95% of languages): "
        f"{len(rows) - len(failing)} of {len(rows)} translations "
        f"({(len(rows) - len(failing)) / len(rows):.1%}) with the fitted preset.",
        "",
        f"Translations under 95% with the fitted preset ({len(failing)}):",
        "",
    ]
    out += [
        f"- `{r['file']}` ({r['lang']}, {r['script']}): {r['kept_fitted']}/{r['paragraphs']} kept; lost: "
        + ", ".join(f"{k} {v}" for k, v in sorted(r["lost_fitted"].items(), key=lambda kv: -kv[1]))
        for r in failing
    ]
    return "\n".join(out)


def status_quo(lang: str) -> dict[str, Any]:
    """Preset overrides that give a language its preset as it was before fitted presets shipped: the
    hand-written five, elsewhere the rule defaults without a stop-word check."""
    from curation.filters.heuristics.presets import preset_model

    if lang in HAND_WRITTEN:
        return {}
    dump = preset_model()(lang=lang).model_dump(
        mode="json", exclude={"lang", "word_tokenizer", "lid_threshold"}
    )
    dump["gopher_quality"]["min_stop_words"] = None
    return dump


def fitted_overrides(data: Path, lang: str) -> dict[str, Any] | None:
    """A preset fitted on the whole UDHR of ``lang`` (every file of that language), or None without one."""
    from curation.filters.heuristics.fit import PresetsFitConfig, chunk_lines, fit_texts

    files = [p for p in udhr_files(data) if lang_of(p) == lang]
    if not files:
        return None
    docs = [
        "\n".join(d)
        for p in files
        for d in chunk_lines(p.read_text(encoding="utf-8").splitlines(), DOC_CHARS)
    ]
    cfg = PresetsFitConfig(lang=lang, reference=["-"], output="-", doc_chars=DOC_CHARS)
    return fit_texts(lang, docs, cfg)[0]


def _uuid(record_id: str) -> str:
    """A WARC-Record-ID as the build's ``id`` column writes it (the bare uuid)."""
    return record_id.strip("<>").removeprefix("urn:uuid:")


def _pages(data: Path) -> list[dict[str, Any]]:
    pages = [json.loads(line) for line in gzip.open(data / "bench" / "pages.jsonl.gz")]
    return [{**p, "record_id": _uuid(p["record_id"])} for p in pages]


def _record_has(path: Path, offset: int, length: int, needle: bytes) -> bool:
    with open(path, "rb") as f:
        f.seek(offset)
        return needle in gzip.decompress(f.read(length)).lower()


def junk_sets(data: Path) -> dict[str, set[str]]:
    """Record ids of the junk page sets (see the module docstring)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    pages = _pages(data)
    account = {
        p["record_id"]
        for p in pages
        if p["source"] == "formasaurus_data" and {"l", "r", "p"} & set(p.get("gold_forms") or [])
    }
    listing = {p["record_id"] for p in pages if p["source"] == "autopager_data"}
    lorem = {
        p["record_id"]
        for p in pages
        if _record_has(
            data / "bench" / p["warc_filename"],
            p["warc_record_offset"],
            p["warc_record_length"],
            b"lorem ipsum",
        )
    }
    with open(data / "warc" / SPAM_WARC, "rb") as f:
        spam = {
            _uuid(r.headers["WARC-Record-ID"])
            for r in ArchiveIterator(f, record_types=WarcRecordType.response)
        }
    return {
        "account pages": account,
        "listing pages": listing,
        "lorem ipsum": lorem,
        "spam (CC excerpt)": spam,
    }


def _outcomes(out: Path) -> dict[str, str]:
    """Record id -> "kept" or the rule's drop reason, for documents that reached the rules."""
    import polars as pl

    result: dict[str, str] = {}
    for shard in out.glob("*/*.parquet"):
        frame = pl.read_parquet(
            shard, columns=["id", "drop_reason"] if shard.parent.name == "rejected" else ["id"]
        )
        for row in frame.iter_rows(named=True):
            reason = row.get("drop_reason", "kept")
            if reason not in PRE_RULE_REASONS:
                result[row["id"]] = reason
    return result


def _build(
    inputs: list[str], langs: list[str], target: Path, presets: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str], float]:
    """`curation build --keep-rejected` in this process: its stats, the outcome per record id, CPU seconds."""
    from curation.builder.stage import Build

    started = time.process_time()
    stats = Build.call(
        lang=langs, input=inputs, output=str(target), keep_rejected=True, presets=presets, executor="local"
    )
    return stats, _outcomes(target), round(time.process_time() - started, 1)


def bench(data: Path, out: Path) -> dict[str, Any]:
    sets = junk_sets(data)
    pages = _pages(data)
    langs = sorted({p["truth_lang"] for p in pages if p["truth_lang"] != "und"})
    fitted = {lang: f for lang in langs if (f := fitted_overrides(data, lang)) is not None}
    inputs = [str(p) for p in sorted((data / "bench").glob("*.warc.gz"))] + [str(data / "warc" / SPAM_WARC)]
    runs = {"status quo": {lang: status_quo(lang) for lang in fitted}, "fitted": fitted}
    result: dict[str, Any] = {
        "languages": sorted(fitted),
        "sets": {k: len(v) for k, v in sets.items()},
        "runs": {},
    }
    for name, presets in runs.items():
        _, outcome, seconds = _build(inputs, sorted(fitted), out / name.replace(" ", "_"), presets)
        result["runs"][name] = {
            "cpu_seconds": seconds,
            "sets": {
                set_name: {
                    "pages": len(ids),
                    "reached_rules": sum(i in outcome for i in ids),
                    "rejected": sum(outcome.get(i, "kept") != "kept" for i in ids if i in outcome),
                    "reasons": dict(
                        Counter(outcome[i] for i in ids if i in outcome and outcome[i] != "kept")
                    ),
                }
                for set_name, ids in sets.items()
            },
        }
    return result


def changes(data: Path, out: Path) -> dict[str, Any]:
    """The junk pages whose outcome differs between the two builds of ``bench`` (its OUT folder): language,
    URL, outcome with the status-quo presets and with the fitted ones."""
    import polars as pl

    old, new = _outcomes(out / "status_quo"), _outcomes(out / "fitted")
    shards = [*(out / "status_quo").glob("*/*.parquet"), *(out / "fitted").glob("*/*.parquet")]
    frame = pl.concat([pl.read_parquet(s, columns=["id", "lang", "url"]) for s in shards])
    where = {row["id"]: row for row in frame.iter_rows(named=True)}
    return {
        "changed": {
            name: [
                {**where[i], "status_quo": old.get(i), "fitted": new.get(i)}
                for i in sorted(ids)
                if old.get(i) != new.get(i)
            ]
            for name, ids in junk_sets(data).items()
        }
    }


def changes_markdown(result: dict[str, Any]) -> str:
    out = ["| page set | lang | URL | status quo | fitted |", "|---|---|---|---|---|"]
    for name, rows in result["changed"].items():
        out += [f"| {name} | {r['lang']} | {r['url']} | {r['status_quo']} | {r['fitted']} |" for r in rows]
    return "\n".join(out)


def bench_markdown(result: dict[str, Any]) -> str:
    langs = result["languages"]
    out = [
        f"Languages built ({len(langs)}): {', '.join(langs)}. CPU seconds per build: "
        + ", ".join(f"{name} {run['cpu_seconds']}" for name, run in result["runs"].items())
        + ".",
        "",
        "| page set | pages | reached rules, status quo | rejected, status quo | reached rules, fitted | rejected, fitted |",
        "|---|---|---|---|---|---|",
    ]
    old, new = result["runs"]["status quo"]["sets"], result["runs"]["fitted"]["sets"]
    for name in old:
        a, b = old[name], new[name]
        out.append(
            f"| {name} | {a['pages']} | {a['reached_rules']} | {a['rejected']} ({_share(a['rejected'], a['reached_rules']):.0%}) | "
            f"{b['reached_rules']} | {b['rejected']} ({_share(b['rejected'], b['reached_rules']):.0%}) |"
        )
    return "\n".join(out)


def builds(data: Path, out: Path) -> dict[str, Any]:
    """`curation build --lang L` on the ClueWeb09 Japanese WARC and the bench WARCs, shipped vs status quo
    (the same for a language without a shipped preset: built once)."""
    from curation.filters.heuristics.presets import shipped_stopwords

    pages = _pages(data)
    inputs = [str(data / "warc" / CLUEWEB_JA)] + [str(p) for p in sorted((data / "bench").glob("*.warc.gz"))]
    result: dict[str, Any] = {}
    for lang in ("ja", "zh", "ru"):
        gold = {p["record_id"] for p in pages if p["truth_lang"] == lang and p.get("gold_text")}
        truth = {p["record_id"] for p in pages if p["truth_lang"] == lang}
        runs = {"shipped": {}, "status quo": {lang: status_quo(lang)}}
        for name, presets in runs.items() if shipped_stopwords(lang) else [("shipped", {})]:
            stats, outcome, seconds = _build(
                inputs, [lang], out / f"{lang}_{name.replace(' ', '_')}", presets
            )
            kept = {i for i, r in outcome.items() if r == "kept"}
            result[f"{lang} {name}"] = {
                "cpu_seconds": seconds,
                "kept": len(kept),
                "kept_bench_pages_of_lang": len(kept & truth),
                "bench_pages_of_lang": len(truth),
                "kept_gold_articles": len(kept & gold),
                "gold_articles": len(gold),
                "kept_clueweb": len(kept - {p["record_id"] for p in pages}),
                "funnel": {
                    k: {"in": v["in"], "out": v["out"], "dropped": v["dropped"]}
                    for k, v in stats["stages"].items()
                },
            }
    return {"builds": result}


def builds_markdown(result: dict[str, Any]) -> str:
    rules = {rule.name for rule in _rules()}
    out = [
        "| build | HTML pages -> pre-selected -> in the language -> kept | bench pages of the language kept "
        "| with extraction gold kept | ClueWeb09 pages kept | top rule drops |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in result["builds"].items():
        f = r["funnel"]
        drops = Counter()
        for step in rules & f.keys():
            drops.update(f[step]["dropped"])
        top = ", ".join(f"{k} {v}" for k, v in drops.most_common(3))
        out.append(
            f"| `{name}` | {f['warc']['out']} -> {f['extract']['in']} -> {f['language_filter']['out']} -> "
            f"{r['kept']} | {r['kept_bench_pages_of_lang']}/{r['bench_pages_of_lang']} | "
            f"{r['kept_gold_articles']}/{r['gold_articles']} | {r['kept_clueweb']} | {top} |"
        )
    return "\n".join(out)


def _read(path: Path) -> str:
    """A text file in UTF-8, else Latin-1 (one inaugural address is)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def compare(data: Path) -> dict[str, Any]:
    """Fitted vs hand-written limits of the shipped languages: reference = the UDHR of the language, plus the
    Machado de Assis works (pt, every 4th file) and the inaugural addresses (en) of ``text/``."""
    from curation.filters.heuristics.fit import PresetsFitConfig, chunk_lines, fit_texts
    from curation.filters.heuristics.presets import load_preset

    extra = {
        "pt": sorted((data / "text" / "pt" / "machado_de_assis").glob("*.txt"))[::4],
        "en": sorted((data / "text" / "en" / "nltk" / "inaugural").glob("*.txt")),
    }
    result: dict[str, Any] = {}
    for lang in HAND_WRITTEN:
        files = [p for p in udhr_files(data) if lang_of(p) == lang] + extra.get(lang, [])
        docs = ["\n".join(d) for p in files for d in chunk_lines(_read(p).splitlines(), 2000)]
        cfg = PresetsFitConfig(lang=lang, reference=["-"], output="-")
        _, loose = fit_texts(lang, docs, cfg)
        _, tight = fit_texts(lang, docs, cfg.model_copy(update={"tighten": True}))
        shipped = load_preset(lang)
        rows = []
        for a, b in zip(loose, tight):
            rule, _, key = a["setting"].partition(".")
            value: Any = shipped.settings(next(r for r in _rules() if r.name == rule))
            for part in key.split("."):
                value = value[int(part)] if isinstance(value, dict) else getattr(value, part)
            rows.append(
                {**a, "hand_written": value, "tightened": b["fitted"], "cut_by_tightened": b["cut_by_fitted"]}
            )
        result[lang] = {
            "documents": len(docs),
            "files": [p.name for p in files][:5] + ["..."],
            "checks": rows,
        }
    return {"languages": result}


def _rules() -> list[Any]:
    from curation.filters import heuristics

    return heuristics.RULES


def compare_markdown(result: dict[str, Any]) -> str:
    result = result["languages"]
    langs = list(result)
    head = (
        "| limit | default | "
        + " | ".join(f"{lang} hand-written / fitted / tightened" for lang in langs)
        + " |"
    )
    out = [
        "Reference documents: " + ", ".join(f"{lang} {r['documents']}" for lang, r in result.items()),
        "",
        head,
        "|---|---|" + "---|" * len(langs),
    ]
    for i, row in enumerate(result[langs[0]]["checks"]):
        cells = []
        for lang in langs:
            r = result[lang]["checks"][i]
            cells.append(f"{r['hand_written']:g} / {r['fitted']:g} / {r['tightened']:g}")
        out.append(f"| `{row['setting']}` {row['keep']} | {row['default']:g} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def cpu_markdown(result: dict[str, Any]) -> str:
    from heuristics_cpu import markdown

    return markdown(result)


def meta() -> dict[str, Any]:
    """Where and when a result was measured."""
    import platform
    import subprocess

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "commit": commit,
    }


SECTIONS = {
    "compare": (
        "Fitted vs hand-written presets (item 1)",
        "`python benchmarks/languages.py compare`: for each language with a hand-written preset, its UDHR "
        "translations (plus Machado de Assis for pt, every 4th work; the inaugural addresses for en) cut into "
        "documents of 2,000 characters, fitted with the `presets fit` defaults (1% quantile, 10% margin, never "
        "stricter than the rule default) and with `--tighten` (every limit at its quantile, as FineWeb-2). Each "
        "cell: hand-written / fitted / tightened.",
        compare_markdown,
    ),
    "udhr": (
        "Clean UDHR paragraphs kept, per script family (item 3)",
        "`python benchmarks/languages.py udhr`: every UDHR translation with at least 5 KB of text; fitted on "
        "the first half of its lines (documents of 1,000 characters), judged on the second half (see the "
        "script's docstring for what counts as a clean paragraph). *Status quo*: the shipped hand-written preset "
        "for pt/es/fr/de/en, elsewhere the rule defaults without the stop-word check (what a language got "
        "before fitted presets). Deterministic: no seed.",
        udhr_markdown,
    ),
    "bench": (
        "Junk bench pages still rejected (item 3)",
        "`python benchmarks/languages.py bench DATA OUT`: `curation build --keep-rejected` over the 5 "
        "CC-MAIN-BENCH dev WARCs and the CC-MAIN-2020-34 excerpt, for every bench language with a UDHR "
        "translation, once with the status-quo presets and once with presets fitted on the whole UDHR of each "
        "language. *Reached rules*: pages extracted and in a built language (language ID passed); rejected "
        "counts any heuristic rule.",
        bench_markdown,
    ),
    "changes": (
        "Junk pages judged differently by the fitted presets",
        "`python benchmarks/languages.py changes DATA OUT` (OUT of `bench`): every page of the sets above whose "
        "outcome differs between the two builds (None: did not reach the rules in that build).",
        changes_markdown,
    ),
    "builds": (
        "Builds in ja, zh and ru (item 4)",
        "`python benchmarks/languages.py builds DATA OUT`: `curation build --lang L --keep-rejected` on the "
        "ClueWeb09 Japanese WARC and the 5 bench WARCs, with the shipped presets and with the status quo. Bench "
        "pages of the language by the bench's own language truth (lingua); *with extraction gold*: pages whose "
        "source gives the article text (article pages).",
        builds_markdown,
    ),
    "cpu": (
        "CPU time of the rules per document",
        "`python benchmarks/heuristics_cpu.py`: `heuristics.measure` (word segmentation and every signal) per "
        "document of about 1,000 characters, warm, shipped preset of each language; pt/en from Machado de "
        "Assis and the State of the Union addresses, de/ja/zh/th from their UDHR.",
        cpu_markdown,
    ),
}


def report(results: Path) -> str:
    """benchmarks/results/languages.md from the JSON results of the other modes."""
    out = [
        "# Heuristic filters across languages (issue 18)",
        "",
        "Every figure below comes from `benchmarks/languages.py` (mode named per section; the JSON beside this "
        "file keeps every row). Data: `text/multi/udhr2`, `bench/`, `warc/` of the shared data folder. CPU "
        "seconds are `time.process_time`; the machine was shared with other jobs (load average given).",
    ]
    for mode, (title, how, render) in SECTIONS.items():
        path = results / f"languages_{mode}.json"
        if not path.exists():
            continue
        result = json.loads(path.read_text(encoding="utf-8"))
        m = result["meta"]
        out += [
            "",
            f"## {title}",
            "",
            how,
            f"Measured {m['date']} at commit {m['commit']} on {m['machine']} (load average "
            f"{', '.join(map(str, m['load_average']))}).",
            "",
            render(result),
        ]
    return "\n".join(out) + "\n"


def main() -> None:
    what = sys.argv[1]
    data = Path(sys.argv[2] if len(sys.argv) > 2 else os.environ.get("CURATION_DATA", "../shared/data"))
    results = Path(__file__).parent / "results"
    if what == "report":
        (results / "languages.md").write_text(report(results), encoding="utf-8")
        return
    runs = {
        "udhr": lambda: udhr(data),
        "compare": lambda: compare(data),
        "bench": lambda: bench(data, Path(sys.argv[3])),
        "builds": lambda: builds(data, Path(sys.argv[3])),
        "changes": lambda: changes(data, Path(sys.argv[3])),
    }
    result = {"meta": meta(), **runs[what]()}
    (results / f"languages_{what}.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    print(SECTIONS[what][2](result))


if __name__ == "__main__":
    main()
