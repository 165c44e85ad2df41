"""`curation build` against a datatrove reference on CC-MAIN-BENCH (issue 12): throughput, pre-selection recall,
what Common Crawl's cld2 metadata alone is worth, extraction quality against gold, and a per-stage CPU profile.

Input: the dev WARCs of ``../shared/data/bench`` (2,320 unique real pages; each record once) and its
``pages.jsonl.gz`` (``truth_lang`` from lingua, a LID family neither tool uses; extraction gold). Parts:

  throughput  one run per tool on the bench WARCs, ``--workers`` processes each: the datatrove reference with
              OUR settings (trafilatura favor_precision off, deduplicate off, timeout 10 s, the same
              lid.176.ftz through a local-path subclass, the same LID threshold and filters with the same
              thresholds, target-language stop words) and with datatrove's own defaults; `curation build
              --lang L` (pre-selection on, the default) and `--no-preselect`. CPU seconds are the whole process
              tree's (every descendant reaped by this script as a sub-reaper), so start-up (Ray, imports, spaCy)
              counts; a run on an empty WARC gives each tool's start-up alone. pages/s/core (CPU) = HTML pages /
              CPU seconds; (wall) = HTML pages / (wall seconds x workers). A separate, labelled volume row
              repeats every record --volume-repeats times under new record ids.
  recall      pre-selection recall per language: kept documents of `curation build --lang L` against one
              multi-language `--no-preselect` build (every page extracted; per language the same kept set as a
              one-language `--no-preselect` build), and of one multi-language build with pre-selection on (a
              page passes if any target is plausible) against the same; and the share of pages
              passed to extraction among the truth pages (truth_lang = L) and among the LID set (pages whose
              extracted text fastText labels L), from the project's own pre-selection steps run in-process.
  cld2        Common Crawl's languages-cld2 record alone (as the reader attaches it, codes normalised) as a
              classifier of truth_lang = L: any of its languages, and its first language.
  extraction  our default trafilatura settings, datatrove's Trafilatura defaults, and a whole-page text
              rendering (no boilerplate removal) against the gold of bench pages that have it: `gold_with`
              snippets found, `gold_without` snippets avoided, word-level precision/recall/F1 against
              `gold_text`; CPU ms per page of each.
  profile     the build's page funnel in-process with a CPU clock: ms per page of every step, with and
              without pre-selection.

    python benchmarks/build_throughput.py --workers 1 --executor local --out benchmarks/results/build.md

(one process per tool: datatrove ``workers=1`` against ``curation build --executor local``; ``--workers 2`` without
``--executor`` gives the two-worker rows with curation on a local Ray.)

Every figure in the written tables comes from this script; the machine, load average, versions and settings are
written beside them. On a shared machine read the CPU-time columns; wall-clock figures need an idle machine.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import gzip
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(os.environ.get("CURATION_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
BENCH = DATA / "bench"
RECALL_LANGS = ("pt", "es", "fr", "de", "ru", "ja", "zh", "en", "it", "nl", "pl")
ENV = {
    "OMP_NUM_THREADS": "1",
    "RAY_AUTH_MODE": "disabled",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
PR_SET_CHILD_SUBREAPER = 36
# datatrove's Trafilatura step: with our settings (what `curation build` runs by default) and with its own.
REFERENCE_SETTINGS = {
    "ours": {"favour_precision": False, "deduplicate": False, "timeout": 10},
    "datatrove defaults": {},
}
REFERENCE_SETTINGS_TEXT = {
    "ours": "Trafilatura(favour_precision=False, deduplicate=False, timeout=10); LanguageFilter(lid.176.ftz, "
    "threshold = preset); GopherRepetition, GopherQuality (preset thresholds, target stop words), "
    "C4Quality (line rules only: no terminal-punctuation, sentence-count or curly-bracket filters), "
    "FineWebQuality, in our order",
    "datatrove defaults": "Trafilatura() (favour_precision=True, deduplicate=True, timeout=1 s wall); "
    "LanguageFilter(lid.176.ftz, 0.65); GopherRepetition(), FineWebQuality(), GopherQuality() (English "
    "stop words: its default), C4Quality() defaults",
}
CURATION_SETTINGS_TEXT = (
    "trafilatura favor_precision=False, favor_recall=False, deduplicate=False, include_tables=True, no comments, "
    "url given, timeout 10 s; lid.176.ftz on the extracted text, preset threshold; gopher_repetition, "
    "gopher_quality, c4, fineweb with the language preset"
)


# --------------------------------------------------------------------------------------------- measurement
@dataclass
class Timed:
    wall_seconds: float
    cpu_seconds: float  # user + system of the whole process tree
    cpu_source: str = "cgroup"  # cgroup: every descendant; rusage: only the descendants reaped here


CGROUP_ROOTS = (Path("/sys/fs/cgroup/cpuacct"), Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


def _new_cgroup() -> Path | None:
    """A fresh cgroup (v1 cpuacct or v2) for one measured command, or None where none can be made.

    Ray's raylet is a sub-reaper that reaps its own workers, so their CPU never reaches this process's
    rusage: only a cgroup sees the whole tree, however its processes were started."""
    for root in CGROUP_ROOTS:
        if (root / "cpuacct.usage").exists() or (root / "cpu.stat").exists():
            group = root / f"curation-bench-{uuid.uuid4().hex[:12]}"
            try:
                group.mkdir()
            except OSError:
                continue
            return group
    return None


def _cgroup_cpu(group: Path) -> float:
    if (group / "cpuacct.usage").exists():
        return int((group / "cpuacct.usage").read_text()) / 1e9
    stat = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines())
    return int(stat["usage_usec"]) / 1e6


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _reap_all(grace_seconds: float) -> None:
    """Wait for every descendant (they are re-parented to this sub-reaper); kill what outlives the grace."""
    deadline = time.monotonic() + grace_seconds
    while True:
        try:
            pid, _, _ = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            continue
        if time.monotonic() > deadline:
            for line in Path("/proc").glob("[0-9]*/stat"):
                try:
                    fields = line.read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == os.getpid():  # our own leftover child
                    os.kill(int(line.parent.name), signal.SIGKILL)
            deadline = time.monotonic() + 60
        time.sleep(0.05)


def measured(cmd: list[str], log: Path) -> Timed:
    """Run ``cmd`` and return its wall time and the CPU time of its whole process tree."""
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    _reap_all(0)
    group = _new_cgroup()
    cpu0 = _children_cpu()
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **ENV},
            preexec_fn=(lambda: (group / "cgroup.procs").write_text(str(os.getpid()))) if group else None,
        )
        proc.wait()
    wall = time.perf_counter() - start
    _reap_all(grace_seconds=120)
    if group is None:
        timed = Timed(wall, _children_cpu() - cpu0, "rusage")
    else:
        timed = Timed(wall, _cgroup_cpu(group))
        group.rmdir()
    if proc.returncode:
        raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}), see {log}")
    return timed


# ---------------------------------------------------------------------------------------------- inputs
def bench_files(n: int) -> list[Path]:
    return sorted(BENCH.glob("*.warc.gz"))[:n]


def record_id(raw: str) -> str:
    """A WARC-Record-ID as the project writes it (no ``<urn:uuid:`` wrapper)."""
    return raw.strip().strip("<>").removeprefix("urn:uuid:")


def truth_pages(files: list[Path]) -> dict[str, dict[str, Any]]:
    names = {f.name for f in files}
    with gzip.open(BENCH / "pages.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return {record_id(r["record_id"]): r for r in rows if r["warc_filename"] in names}


def gzip_members(path: Path) -> list[bytes]:
    from fastwarc.warc import ArchiveIterator

    raw = path.read_bytes()
    starts = [rec.stream_pos for rec in ArchiveIterator(str(path), parse_http=False)] + [len(raw)]
    return [raw[a:b] for a, b in zip(starts, starts[1:])]


_UUID = re.compile(rb"urn:uuid:([0-9a-fA-F-]{36})")


def renamed_member(member: bytes, copy: int) -> bytes:
    """A WARC record (one gzip member) with every record id in its header replaced, consistently per copy."""
    data = zlib.decompress(member, 16 + zlib.MAX_WBITS)
    head, sep, body = data.partition(b"\r\n\r\n")
    head = _UUID.sub(
        lambda m: b"urn:uuid:" + str(uuid.uuid5(uuid.UUID(m.group(1).decode()), str(copy))).encode(), head
    )
    return gzip.compress(head + sep + body, compresslevel=6, mtime=0)


def volume_input(files: list[Path], repeats: int, out: Path) -> list[Path]:
    """Every bench record ``repeats`` times, each copy under new record ids (volume only, not unique pages)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for path in files:
        members = gzip_members(path)
        for copy in range(repeats):
            target = out / f"{path.name.removesuffix('.warc.gz')}-copy{copy}.warc.gz"
            target.write_bytes(b"".join(members if copy == 0 else (renamed_member(m, copy) for m in members)))
            paths.append(target)
    return paths


def empty_input(files: list[Path], out: Path) -> list[Path]:
    """A WARC with only the warcinfo record of the first bench file: what a tool costs before any page."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / "empty.warc.gz"
    target.write_bytes(gzip_members(files[0])[0])
    return [target]


def html_pages(files: list[Path]) -> int:
    """HTTP 200 HTML responses (the unit of pages/s for both tools), counted by the project's reader."""
    from curation.builder.warc import WarcReader
    from curation.core.stats import Stats

    stats = Stats()
    for path in files:
        with path.open("rb") as f:
            for _ in WarcReader(f, str(path), stats, 1 << 40):
                pass
    return stats.stages["warc"]["out"]


# ---------------------------------------------------------------------------------------------- the tools
REFERENCE_SCRIPT = """
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
    GopherRepetitionFilter, LanguageFilter)
from datatrove.pipeline.readers import WarcReader
from datatrove.pipeline.writers import ParquetWriter
from datatrove.utils.lid import FT176LID

from curation.builder.lid import default_model_path
from curation.filters.heuristics.presets import load_preset

LANG, MATCHED, TRAFILATURA = {lang!r}, {matched!r}, {trafilatura!r}


class LocalFT176(FT176LID):
    '''lid.176.ftz from a local path: the model `curation build` uses (datatrove would download lid.176.bin).'''

    @property
    def model(self):
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _FastText(default_model_path())
        return self._model


class OfflineLanguageFilter(LanguageFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.model = LocalFT176(self.languages)


def filters():
    if not MATCHED:
        return [
            OfflineLanguageFilter(languages=[LANG]),
            GopherRepetitionFilter(language=LANG),
            FineWebQualityFilter(language=LANG),
            GopherQualityFilter(language=LANG),
            C4QualityFilter(language=LANG),
        ]
    p = load_preset(LANG)
    r, q, c, f = p.gopher_repetition, p.gopher_quality, p.c4, p.fineweb
    return [
        OfflineLanguageFilter(languages=[LANG], language_threshold=p.lid_threshold),
        GopherRepetitionFilter(
            dup_line_frac=r.dup_line_frac, dup_para_frac=r.dup_para_frac, dup_line_char_frac=r.dup_line_char_frac,
            dup_para_char_frac=r.dup_para_char_frac, top_n_grams=tuple(r.top_ngram_char_frac.items()),
            dup_n_grams=tuple(r.dup_ngram_char_frac.items()), language=LANG,
        ),
        GopherQualityFilter(
            min_doc_words=q.min_doc_words, max_doc_words=q.max_doc_words, min_avg_word_length=q.min_avg_word_length,
            max_avg_word_length=q.max_avg_word_length, max_symbol_word_ratio=q.max_symbol_word_ratio,
            max_bullet_lines_ratio=q.max_bullet_lines_ratio, max_ellipsis_lines_ratio=q.max_ellipsis_lines_ratio,
            max_non_alpha_words_ratio=q.min_alpha_words_ratio, min_stop_words=q.min_stop_words,
            stop_words=p.stopwords or None, language=LANG,
        ),
        C4QualityFilter(
            remove_citations=c.remove_citations, filter_no_terminal_punct=False, min_num_sentences=-1,
            min_words_per_line=c.min_words_per_line, max_word_length=c.max_word_length,
            filter_lorem_ipsum=c.drop_lorem_ipsum, filter_javascript=c.remove_javascript_lines,
            filter_curly_bracket=c.drop_curly_bracket, filter_policy=c.remove_policy_lines, language=LANG,
        ),
        FineWebQualityFilter(
            line_punct_thr=f.min_line_punct_ratio, short_line_thr=f.max_short_line_ratio,
            short_line_length=f.short_line_length, char_duplicates_ratio=f.max_char_dup_ratio,
            new_line_ratio=f.max_newline_ratio, language=LANG,
        ),
    ]


if __name__ == "__main__":
    LocalPipelineExecutor(
        pipeline=[WarcReader({inputs!r}, glob_pattern="*.warc.gz"), Trafilatura(**TRAFILATURA), *filters(),
                  ParquetWriter({docs!r})],
        tasks={tasks}, workers={workers}, logging_dir={logs!r},
    ).run()
"""


def run_reference(files: list[Path], out: Path, lang: str, workers: int, settings: str) -> dict[str, Any]:
    """datatrove: WarcReader -> Trafilatura -> LanguageFilter -> the same filters -> ParquetWriter."""
    folder = out / "in"
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:  # datatrove reads a folder: link the inputs into one
        (folder / f.name).symlink_to(f.resolve())
    script = out / "reference.py"
    script.write_text(
        REFERENCE_SCRIPT.format(
            lang=lang,
            matched=settings == "ours",
            trafilatura=REFERENCE_SETTINGS[settings],
            inputs=str(folder),
            docs=str(out / "docs"),
            tasks=len(files),
            workers=workers,
            logs=str(out / "logs"),
        )
    )
    timed = measured([sys.executable, str(script)], out / "log.txt")
    return {"timed": timed, "kept": reference_kept(out / "docs")}


def reference_kept(folder: Path) -> set[str]:
    import polars as pl

    files = sorted(folder.glob("*.parquet"))
    return {record_id(i) for i in pl.read_parquet(files)["id"].to_list()} if files else set()


def run_curation(
    files: list[Path], out: Path, langs: list[str], workers: int | None, *flags: str
) -> dict[str, Any]:
    """`curation build` on Ray with ``workers``, or in-process (``--executor local``) with None."""
    cmd = [sys.executable, "-m", "curation.cli", "build", "--lang", ",".join(langs), "--output", str(out)]
    cmd += ["--workers", str(workers)] if workers else ["--executor", "local"]
    cmd += flags
    for f in files:
        cmd += ["--input", str(f)]
    timed = measured(cmd, out.parent / f"{out.name}.log")
    stats = json.loads((out / "_run" / "stats.json").read_text())
    return {"timed": timed, "stats": stats, "kept": curation_kept(out, langs)}


def curation_kept(out: Path, langs: list[str]) -> dict[str, set[str]]:
    import polars as pl

    kept = {}
    for lang in langs:
        files = sorted((out / lang).glob("*.parquet"))
        kept[lang] = set(pl.read_parquet(files, columns=["id"])["id"].to_list()) if files else set()
    return kept


# ------------------------------------------------------------------------------------------------ parts
def throughput(args: argparse.Namespace, files: list[Path], tmp: Path) -> dict[str, Any]:
    lang, workers = args.lang, args.workers
    pages = html_pages(files)
    rows: dict[str, dict[str, Any]] = {}

    def row(name: str, timed: Timed, n_pages: int, kept: int, **extra: Any) -> None:
        rows[name] = {
            "pages": n_pages,
            "wall_seconds": timed.wall_seconds,
            "cpu_seconds": timed.cpu_seconds,
            "pages_per_cpu_second": n_pages / timed.cpu_seconds,
            "pages_per_second_per_core_wall": n_pages / timed.wall_seconds / workers,
            "kept": kept,
            "load_average": os.getloadavg()[0],
            **extra,
        }
        print(f"{name}: {json.dumps(rows[name], default=str)}", flush=True)

    runs = {}
    for settings in args.reference_settings:
        res = run_reference(files, tmp / f"ref-{settings.replace(' ', '-')}", lang, workers, settings)
        runs[f"datatrove, {settings}"] = res
        row(f"datatrove reference ({settings})", res["timed"], pages, len(res["kept"]))
    cur_workers = None if args.executor == "local" else workers
    for name, flags in (("curation build", ()), ("curation build --no-preselect", ("--no-preselect",))):
        res = run_curation(files, tmp / name.replace(" ", "_").replace("-", ""), [lang], cur_workers, *flags)
        runs[name] = res
        row(name, res["timed"], pages, len(res["kept"][lang]), funnel=res["stats"]["stages"])

    empty = empty_input(files, tmp / "empty-in")
    startup = {
        "datatrove reference": run_reference(empty, tmp / "ref-empty", lang, workers, "ours")["timed"],
        "curation build": run_curation(empty, tmp / "cur-empty", [lang], cur_workers)["timed"],
    }
    for name, timed in startup.items():
        print(f"start-up {name}: {timed}", flush=True)

    volume = {}
    if args.volume_repeats > 1:
        vfiles = volume_input(files, args.volume_repeats, tmp / "volume-in")
        vpages = pages * args.volume_repeats
        res = run_reference(vfiles, tmp / "ref-volume", lang, workers, "ours")
        volume["datatrove reference (ours)"] = {
            "timed": res["timed"],
            "pages": vpages,
            "kept": len(res["kept"]),
        }
        res = run_curation(vfiles, tmp / "cur-volume", [lang], cur_workers)
        volume["curation build"] = {"timed": res["timed"], "pages": vpages, "kept": len(res["kept"][lang])}
        for name, v in volume.items():
            print(f"volume {name}: {v}", flush=True)

    same = runs["datatrove, ours"]["kept"], runs["curation build --no-preselect"]["kept"][lang]
    return {
        "pages": pages,
        "files": len(files),
        "rows": rows,
        "startup": startup,
        "volume": volume,
        "kept_sets": {
            "reference_ours": sorted(same[0]),
            "curation_no_preselect": sorted(same[1]),
            "curation": sorted(runs["curation build"]["kept"][lang]),
        },
        "reference_stats": reference_step_seconds(tmp / "ref-ours" / "logs"),
    }


def reference_step_seconds(logs: Path) -> dict[str, float]:
    """Total seconds per datatrove pipeline step (its own stats: wall time inside each worker)."""
    path = logs / "stats.json"
    if not path.exists():
        return {}
    out = {}
    for step in json.loads(path.read_text()):
        total = step.get("time_stats", {}).get("total")
        if total is not None:
            out[step["name"]] = total
    return out


def preselect_outcomes(files: list[Path], langs: list[str]) -> dict[str, tuple[str, str] | None]:
    """Per page (record id): None if the project's pre-selection for ``langs`` sends it to extraction, else
    (step, drop reason) of the step before extraction that refused it (pre-selection or the html guards)."""
    from curation.builder.config import BuildConfig
    from curation.builder.pages import PageFunnel
    from curation.builder.warc import WarcReader
    from curation.core.stats import Stats

    cfg = BuildConfig(lang=langs, input=["-"], output="-")
    stats = Stats()
    funnel = PageFunnel(cfg, stats)
    outcomes: dict[str, tuple[str, str] | None] = {}
    for path in files:
        with path.open("rb") as f:
            for warc_page in WarcReader(f, str(path), stats, cfg.max_payload_bytes):
                outcomes[warc_page.record_id] = funnel.screen(warc_page)
    return outcomes


def recall(args: argparse.Namespace, files: list[Path], tmp: Path, truth: dict[str, dict]) -> dict[str, Any]:
    langs = args.recall_langs
    full_out = tmp / "recall-full"
    # the recall builds are not timed: in-process, without Ray's start-up
    full = run_curation(files, full_out, langs, None, "--keep-rejected", "--no-preselect")
    multi = run_curation(files, tmp / "recall-multi", langs, None)
    lid_set = lid_labelled(full_out, langs)
    out = {
        "full_cpu_seconds": full["timed"].cpu_seconds,
        "multi_cpu_seconds": multi["timed"].cpu_seconds,
        "languages": {},
    }
    for lang in langs:
        pre = run_curation(files, tmp / f"recall-{lang}", [lang], None)
        outcomes = preselect_outcomes(files, [lang])
        guarded = {i for i, o in outcomes.items() if o is not None and o[0] == "html"}
        passes = {i: o is None for i, o in outcomes.items() if i not in guarded}
        expected, got = full["kept"][lang], pre["kept"][lang]
        truth_ids = {i for i, r in truth.items() if r["truth_lang"] == lang} - guarded
        undisputed = {i for i in truth_ids if str(truth[i].get("truth_disputed")) != "True"}
        decisions = pre["stats"]["counters"].get("preselect_decisions", {})
        out["languages"][lang] = {
            "kept_without_preselect": len(expected),
            "kept_with_preselect": len(got),
            "kept_both": len(expected & got),
            "kept_extra": len(got - expected),
            "multi_kept_both": len(expected & multi["kept"][lang]),
            "multi_kept_extra": len(multi["kept"][lang] - expected),
            "truth_n": len(truth_ids),
            "truth_passed": sum(passes.get(i, False) for i in truth_ids),
            "truth_undisputed_n": len(undisputed),
            "truth_undisputed_passed": sum(passes.get(i, False) for i in undisputed),
            "truth_refused_by_html_guards": sorted(
                truth[i]["url"] for i in guarded if i in truth and truth[i]["truth_lang"] == lang
            ),
            "truth_missed": sorted(truth[i]["url"] for i in truth_ids if not passes.get(i, False)),
            "lid_n": len(lid_set[lang]),
            "lid_passed": sum(passes.get(i, False) for i in lid_set[lang]),
            "pass_share": sum(passes.values()) / len(passes),
            "decisions": decisions,
            "cpu_seconds": pre["timed"].cpu_seconds,
        }
        print(f"recall {lang}: {json.dumps(out['languages'][lang])}", flush=True)
    return out


def lid_labelled(out: Path, langs: list[str]) -> dict[str, set[str]]:
    """Pages whose extracted text fastText labels as each language (kept or rejected after the LID step)."""
    import polars as pl

    frames = [pl.read_parquet(f, columns=["id", "lang"]) for f in sorted(out.rglob("*.parquet"))]
    docs = pl.concat(frames) if frames else pl.DataFrame({"id": [], "lang": []})
    return {lang: set(docs.filter(pl.col("lang") == lang)["id"].to_list()) for lang in langs}


def cld2_separation(files: list[Path], truth: dict[str, dict], langs: list[str]) -> dict[str, Any]:
    """CC's languages-cld2 record alone as a classifier of truth_lang, per language."""
    from curation.builder.warc import WarcReader
    from curation.core.stats import Stats

    records: dict[str, Any] = {}
    for path in files:
        with path.open("rb") as f:
            for page in WarcReader(f, str(path), Stats(), 1 << 40):
                records[page.record_id] = page.cld2
    pages = [(records.get(i), r["truth_lang"]) for i, r in truth.items()]
    out = {
        "pages": len(pages),
        "with_record": sum(c is not None for c, _ in pages),
        "no_language": sum(c is not None and not c.languages for c, _ in pages),
        "unreliable": sum(c is not None and not c.reliable for c, _ in pages),
        "languages": {},
    }
    for lang in langs:
        stat: dict[str, Any] = {}
        for rule, listed in (
            ("any", [c is not None and lang in c.languages for c, _ in pages]),
            ("first", [c is not None and c.languages[:1] == (lang,) for c, _ in pages]),
        ):
            is_lang = [t == lang for _, t in pages]
            tp = sum(a and b for a, b in zip(listed, is_lang))
            fp = sum(a and not b for a, b in zip(listed, is_lang))
            fn = sum(b and not a for a, b in zip(listed, is_lang))
            stat[rule] = {
                "recall": tp / max(tp + fn, 1),
                "precision": tp / max(tp + fp, 1),
                "tp": tp,
                "fp": fp,
            }
        stat["n"] = sum(t == lang for _, t in pages)
        out["languages"][lang] = stat
    return out


_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")


def _squash(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def word_prf(predicted: str, gold: str) -> tuple[float, float]:
    """(precision, recall) of the word multiset of ``predicted`` against ``gold`` (lower case)."""
    p, g = Counter(_WORD.findall(predicted.lower())), Counter(_WORD.findall(gold.lower()))
    overlap = sum((p & g).values())
    return overlap / max(sum(p.values()), 1), overlap / max(sum(g.values()), 1)


def extractors() -> dict[str, Any]:
    """The extraction settings compared: ours, datatrove's Trafilatura defaults, a whole-page rendering."""
    from resiliparse.extract.html2text import extract_plain_text
    from trafilatura import extract

    from curation.builder.config import ExtractConfig
    from curation.builder.extract import extract_main_text

    ours = ExtractConfig()
    return {
        "curation default (favor_precision=False, deduplicate=False)": lambda html, url: extract_main_text(
            html, url, ours
        ),
        "datatrove Trafilatura default (favour_precision=True, deduplicate=True)": lambda html, url: extract(
            html, favor_precision=True, include_comments=False, deduplicate=True
        ),
        "whole-page text, no boilerplate removal (resiliparse, main_content=False)": lambda html, url: (
            extract_plain_text(html, main_content=False)
        ),
    }


def gold_pages(files: list[Path], truth: dict[str, dict]) -> list[tuple[dict, str]]:
    """(label row, decoded HTML) of every bench page with extraction gold, in file order."""
    from curation.builder.extract import decode_html
    from curation.builder.warc import WarcReader
    from curation.core.stats import Stats

    out = []
    for path in files:
        with path.open("rb") as f:
            for page in WarcReader(f, str(path), Stats(), 1 << 40):
                row = truth.get(page.record_id)
                if row and (row.get("gold_with") or row.get("gold_without") or row.get("gold_text")):
                    out.append((row, decode_html(page.payload, page.content_type)))
    return out


def score_extraction(pages: list[tuple[dict, str]], extract: Any) -> dict[str, Any]:
    found = with_n = avoided = without_n = 0
    precisions, recalls, all_recalls = [], [], []
    cpu = 0.0
    for row, html in pages:
        start = time.process_time()
        try:
            text = extract(html, row["url"]) or ""
        except Exception:  # noqa: BLE001 - a failed extraction is an empty text
            text = ""
        cpu += time.process_time() - start
        squashed = _squash(text)
        for snippet in row.get("gold_with") or []:
            with_n += 1
            found += _squash(snippet) in squashed
        for snippet in row.get("gold_without") or []:
            without_n += 1
            avoided += _squash(snippet) not in squashed
        if row.get("gold_text"):
            precision, rec = word_prf(text, row["gold_text"])
            all_recalls.append(rec)
            if "PREFIX" not in (row.get("gold_text_kind") or ""):
                precisions.append(precision)
                recalls.append(rec)
    p = sum(precisions) / max(len(precisions), 1)
    r = sum(recalls) / max(len(recalls), 1)
    f1s = [2 * a * b / (a + b) if a + b else 0.0 for a, b in zip(precisions, recalls)]
    return {
        "pages": len(pages),
        "with_found": found / max(with_n, 1),
        "with_n": with_n,
        "without_avoided": avoided / max(without_n, 1),
        "without_n": without_n,
        "gold_text_n": len(precisions),
        "gold_text_precision": p,
        "gold_text_recall": r,
        "gold_text_f1": sum(f1s) / max(len(f1s), 1),
        "gold_text_recall_incl_prefix": sum(all_recalls) / max(len(all_recalls), 1),
        "gold_text_incl_prefix_n": len(all_recalls),
        "cpu_ms_per_page": 1e3 * cpu / max(len(pages), 1),
    }


def extraction(files: list[Path], truth: dict[str, dict]) -> dict[str, Any]:
    pages = gold_pages(files, truth)
    out = {}
    for name, fn in extractors().items():
        out[name] = score_extraction(pages, fn)
        print(f"extraction {name}: {json.dumps(out[name])}", flush=True)
    return out


def stage_profile(files: list[Path], lang: str, modes: list[str]) -> dict[str, Any]:
    """CPU ms per HTML page of the WARC reader and every funnel step, with and without pre-selection."""
    from curation.builder.config import BuildConfig
    from curation.builder.pages import PageFunnel, torch_hidden
    from curation.builder.warc import WarcReader
    from curation.core.schema import ID
    from curation.core.stats import Stats
    from curation.filters import heuristics
    from curation.filters.heuristics.presets import load_preset

    start = time.process_time()
    with torch_hidden():  # the word tokenizer's one-off load per process, as a build worker does it
        heuristics.measure("Warm up. " * 20, load_preset(lang))
    out: dict[str, Any] = {"word_tokenizer_load_seconds": time.process_time() - start}
    for name, enabled in (("curation build", True), ("curation build --no-preselect", False)):
        if ("preselect" if enabled else "no-preselect") not in modes:
            continue
        cfg = BuildConfig(lang=[lang], input=["-"], output="-", preselect={"enabled": enabled})
        stats = Stats(clock=time.process_time)
        funnel = PageFunnel(cfg, stats)
        start = time.process_time()
        for path in files:
            with path.open("rb") as f:
                for page in WarcReader(f, str(path), stats, cfg.max_payload_bytes):
                    funnel.process(page, {ID: page.record_id})
        total = time.process_time() - start
        result = stats.to_dict()
        pages = result["stages"]["warc"]["out"]
        entering = {s: v["in"] for s, v in result["stages"].items()}
        steps = {s: v["seconds"] for s, v in result["stages"].items() if s != "warc"}
        signals = "signals (inside the first rule step)"
        steps[signals] = result["timings"].get("signals", 0.0)
        entering[signals] = result["stages"].get(heuristics.RULES[0].name, {}).get("in")
        out[name] = {
            "pages": pages,
            "total_ms_per_page": 1e3 * total / pages,
            "warc_and_loop_ms_per_page": 1e3
            * (total - sum(v["seconds"] for v in result["stages"].values()))
            / pages,
            "steps": {
                s: {
                    "in": entering.get(s),
                    "ms_per_page": 1e3 * sec / pages,
                    "ms_per_page_in": 1e3 * sec / max(entering.get(s) or 1, 1),
                }
                for s, sec in steps.items()
            },
        }
        print(f"profile {name}: {out[name]['total_ms_per_page']:.2f} ms/page", flush=True)
    return out


# ------------------------------------------------------------------------------------------------ report
def machine() -> dict[str, Any]:
    from importlib.metadata import version

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    pkgs = ("datatrove", "trafilatura", "resiliparse", "fastwarc", "ray", "spacy", "fasttext-numpy2-wheel")
    versions = {}
    for p in pkgs:
        try:
            versions[p] = version(p)
        except Exception:  # noqa: BLE001 - not installed
            versions[p] = "-"
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "versions": versions}


def _f(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def markdown(res: dict[str, Any], args: argparse.Namespace) -> str:
    m = res["machine"]
    head = [
        "# Build: throughput, pre-selection recall, cld2, extraction quality (CC-MAIN-BENCH dev)",
        "",
        f"Produced by `python benchmarks/build_throughput.py {' '.join(sys.argv[1:])}` on {res['date']}; "
        f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + f". Load average (1 min) at start {res['load_start']:.1f}, at end {res['load_end']:.1f}"
        + (
            " (a shared machine: read the CPU-time columns; wall figures need an idle machine)."
            if res["load_start"] > 1
            else "."
        ),
        "",
        f"Input: `{BENCH}` dev part, {res.get('throughput', {}).get('files', args.files)} WARC files, every record "
        "once (2,320 unique real pages from 1,331 sites in the full set). Truth: `truth_lang` = lingua on the page's "
        "trafilatura favor_recall text (a LID family neither tool uses). Target language of the throughput rows: "
        f"`{args.lang}`. Threads: `OMP_NUM_THREADS=1`; {args.workers} worker processes per tool.",
        "",
        f"- curation build: {CURATION_SETTINGS_TEXT}; pre-selection as in `PreselectConfig` defaults; "
        + (
            "in-process executor (`--executor local`, one process)."
            if args.executor == "local"
            else f"Ray executor with `--workers {args.workers}`."
        ),
        f"- datatrove reference, our settings: {REFERENCE_SETTINGS_TEXT['ours']}; LocalPipelineExecutor, one task per "
        f"file, {args.workers} workers.",
        f"- datatrove reference, its defaults: {REFERENCE_SETTINGS_TEXT['datatrove defaults']}.",
        "",
    ]
    out = head
    if "throughput" in res:
        t = res["throughput"]
        out += [
            f"## Throughput on the bench WARCs ({t['pages']:,} HTML pages, unique records, target `{args.lang}`)",
            "",
            "CPU seconds: the whole process tree (driver, executor, workers, extraction sandboxes, Ray's own "
            "processes). pages/s/core (CPU) = pages / CPU seconds; pages/s/core (wall) = pages / (wall x workers).",
            "",
            "| tool, settings | pages | kept docs | CPU s | pages/s/core (CPU) | x reference (CPU) | wall s | pages/s/core (wall) | x reference (wall) | load avg |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        ref = t["rows"]["datatrove reference (ours)"]
        for name, r in t["rows"].items():
            out.append(
                f"| {name} | {r['pages']:,} | {r['kept']} | {_f(r['cpu_seconds'])} | {_f(r['pages_per_cpu_second'])} | "
                f"{r['pages_per_cpu_second'] / ref['pages_per_cpu_second']:.2f} | {_f(r['wall_seconds'])} | "
                f"{_f(r['pages_per_second_per_core_wall'])} | "
                f"{r['pages_per_second_per_core_wall'] / ref['pages_per_second_per_core_wall']:.2f} | {r['load_average']:.1f} |"
            )
        s = t["startup"]
        ref_marginal = (ref["cpu_seconds"] - s["datatrove reference"].cpu_seconds) / ref["pages"]
        out += [
            "",
            "Start-up alone (a WARC with only a warcinfo record: process start, imports, executor; no page, so no "
            "spaCy) and the CPU per page once it is paid:",
            "",
            "| tool | start-up CPU s | start-up wall s | CPU ms per page after start-up | pages/s/core after start-up | x reference |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, key in (
            ("datatrove reference (ours)", "datatrove reference"),
            ("curation build", "curation build"),
            ("curation build --no-preselect", "curation build"),
        ):
            r, st = t["rows"][name], s[key]
            marginal = (r["cpu_seconds"] - st.cpu_seconds) / r["pages"]
            out.append(
                f"| {name} | {_f(st.cpu_seconds)} | {_f(st.wall_seconds)} | {_f(1e3 * marginal, 2)} | "
                f"{_f(1 / marginal)} | {ref_marginal / marginal:.2f} |"
            )
        if t["volume"]:
            vref = t["volume"]["datatrove reference (ours)"]
            out += [
                "",
                f"**Volume (not unique pages):** every bench record {args.volume_repeats} times, each copy under new "
                "record ids:",
                "",
                "| tool | pages | kept docs | CPU s | pages/s/core (CPU) | x reference | wall s | pages/s/core (wall) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for name, v in t["volume"].items():
                rate = v["pages"] / v["timed"].cpu_seconds
                out.append(
                    f"| {name} | {v['pages']:,} | {v['kept']} | {_f(v['timed'].cpu_seconds)} | {_f(rate)} | "
                    f"{rate / (vref['pages'] / vref['timed'].cpu_seconds):.2f} | {_f(v['timed'].wall_seconds)} | "
                    f"{_f(v['pages'] / v['timed'].wall_seconds / args.workers)} |"
                )
        k = t["kept_sets"]
        ref_ids, full_ids, pre_ids = (
            set(k[x]) for x in ("reference_ours", "curation_no_preselect", "curation")
        )
        out += [
            "",
            f"Kept documents: reference (ours) {len(ref_ids)}, `--no-preselect` {len(full_ids)} (both: "
            f"{len(ref_ids & full_ids)}), `curation build` {len(pre_ids)} (of the `--no-preselect` set: "
            f"{len(pre_ids & full_ids)}).",
            "",
        ]
    if "profile" in res:
        prof = dict(res["profile"])
        load = prof.pop("word_tokenizer_load_seconds")
        out += [
            "## Where the CPU goes (in-process funnel, CPU clock, ms per HTML page)",
            "",
            f"The rules' word tokenizer (spaCy, through datatrove) is loaded once per process before timing: "
            f"{_f(load, 2)} CPU s.",
            "",
        ]
        for name, p in prof.items():
            out += [
                f"`{name}` (`--lang {args.lang}`): {_f(p['total_ms_per_page'], 2)} ms per page in all "
                f"({_f(1e3 / p['total_ms_per_page'])} pages/s/core without start-up); WARC reading and the loop "
                f"{_f(p['warc_and_loop_ms_per_page'], 2)} ms.",
                "",
                "| step | pages in | ms per HTML page | ms per page entering the step |",
                "|---|---:|---:|---:|",
            ]
            out += [
                f"| {s} | {v['in'] if v['in'] is not None else '-'} | {_f(v['ms_per_page'], 3)} | {_f(v['ms_per_page_in'], 2)} |"
                for s, v in p["steps"].items()
            ]
            out.append("")
        if res.get("throughput", {}).get("reference_stats"):
            out += [
                "datatrove reference (our settings), its own per-step totals (wall seconds inside the workers, all "
                "pages): "
                + ", ".join(f"{k} {_f(v)}" for k, v in res["throughput"]["reference_stats"].items()),
                "",
            ]
    if "recall" in res:
        out += [
            "## Pre-selection recall per language",
            "",
            "vs `--no-preselect`: documents `curation build --lang L` keeps / documents the build keeps with "
            "every page extracted. vs truth: truth pages (truth_lang = L) that pre-selection sends to extraction / "
            "truth pages (undisputed: without `truth_disputed`). vs LID: pages whose extracted text fastText labels L "
            "(kept or not), passed / all. pass share: pages sent to extraction / all HTML pages. Decisions: pages "
            "passed by metadata / sent to the quick-text check / skipped without decoding. multi-language: one "
            f"build `--lang {','.join(res['recall']['languages'])}` with pre-selection on, its documents in L / "
            "the `--no-preselect` documents in L.",
            "",
            "| lang | vs --no-preselect | extra kept | multi-language vs --no-preselect | vs truth (n) | vs truth, undisputed (n) | vs LID (n) | pass share | pass / check / skip |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for lang, r in res["recall"]["languages"].items():
            vs_full, vs_multi = (
                f"{both / r['kept_without_preselect']:.3f} ({both}/{r['kept_without_preselect']})"
                if r["kept_without_preselect"]
                else "- (0 kept)"
                for both in (r["kept_both"], r["multi_kept_both"])
            )
            d = r["decisions"]
            out.append(
                f"| {lang} | {vs_full} | {r['kept_extra']} | {vs_multi} | "
                f"{r['truth_passed'] / max(r['truth_n'], 1):.3f} ({r['truth_passed']}/{r['truth_n']}) | "
                f"{r['truth_undisputed_passed'] / max(r['truth_undisputed_n'], 1):.3f} "
                f"({r['truth_undisputed_passed']}/{r['truth_undisputed_n']}) | "
                f"{r['lid_passed'] / max(r['lid_n'], 1):.3f} ({r['lid_passed']}/{r['lid_n']}) | {r['pass_share']:.3f} | "
                f"{d.get('pass', 0)} / {d.get('check_text', 0)} / {d.get('skip', 0)} |"
            )
        missed = [(lang, u) for lang, r in res["recall"]["languages"].items() for u in r["truth_missed"]]
        refused = [
            (lang, u)
            for lang, r in res["recall"]["languages"].items()
            for u in r["truth_refused_by_html_guards"]
        ]
        rc = res["recall"]
        out += [
            "",
            f"In-process builds (`--executor local`, one process, CPU s of the process): all "
            f"{len(rc['languages'])} languages `--no-preselect` {_f(rc['full_cpu_seconds'])}, with pre-selection "
            f"{_f(rc['multi_cpu_seconds'])}; one language with pre-selection: "
            + ", ".join(f"{lang} {_f(r['cpu_seconds'])}" for lang, r in rc["languages"].items())
            + ".",
        ]
        out += [""] + [f"- truth page not sent to extraction ({lang}): {u}" for lang, u in missed]
        out += [
            f"- truth page refused by the html guards with or without pre-selection, left out of the truth "
            f"columns ({lang}): {u}"
            for lang, u in refused
        ]
        out.append("")
    if "cld2" in res:
        c = res["cld2"]
        out += [
            "## Common Crawl's `languages-cld2` record alone against truth_lang",
            "",
            f"{c['pages']:,} truth pages; {c['with_record']:,} with a record, {c['no_language']} of them with no "
            f"language, {c['unreliable']} marked unreliable. any = the target among its (up to 3) languages; first = "
            "its first language. Codes normalised (zh-Hant -> zh, iw -> he).",
            "",
            "| lang | n (truth) | any: recall | any: precision | first: recall | first: precision |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for lang, s in c["languages"].items():
            out.append(
                f"| {lang} | {s['n']} | {s['any']['recall']:.3f} | {s['any']['precision']:.3f} | "
                f"{s['first']['recall']:.3f} | {s['first']['precision']:.3f} |"
            )
        out.append("")
    if "extraction" in res:
        out += [
            "## Extraction quality against the bench gold",
            "",
            "Bench pages with gold (all languages). with: `gold_with` snippets found in the text; without: "
            "`gold_without` snippets absent; gold_text: word-multiset precision / recall / F1 per page, averaged "
            "(goose3 gold is only a prefix of the body: left out of P/R/F1, in the recall-with-prefix column). "
            "Whitespace is collapsed before snippet matching. CPU ms per page in one process.",
            "",
            "| extraction | pages | with found (n) | without avoided (n) | gold_text P | R | F1 (n) | R incl. prefix (n) | CPU ms/page |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, e in res["extraction"].items():
            out.append(
                f"| {name} | {e['pages']} | {e['with_found']:.3f} ({e['with_n']}) | "
                f"{e['without_avoided']:.3f} ({e['without_n']}) | {e['gold_text_precision']:.3f} | "
                f"{e['gold_text_recall']:.3f} | {e['gold_text_f1']:.3f} ({e['gold_text_n']}) | "
                f"{e['gold_text_recall_incl_prefix']:.3f} ({e['gold_text_incl_prefix_n']}) | {_f(e['cpu_ms_per_page'])} |"
            )
        out.append("")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lang", default="pt", help="target language of the throughput rows")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--executor",
        choices=("ray", "local"),
        default="ray",
        help="curation build's executor in the throughput rows (local: one process; use with --workers 1)",
    )
    parser.add_argument("--files", type=int, default=5, help="bench WARC files to use (all 5 by default)")
    parser.add_argument(
        "--volume-repeats", type=int, default=4, help="copies per record in the volume row (1: none)"
    )
    parser.add_argument("--recall-langs", type=lambda s: s.split(","), default=list(RECALL_LANGS))
    parser.add_argument("--parts", default="throughput,recall,cld2,extraction,profile")
    parser.add_argument(
        "--reference-settings",
        type=lambda s: s.split(","),
        default=list(REFERENCE_SETTINGS),
        help="datatrove rows: 'ours' (matched), 'datatrove defaults'",
    )
    parser.add_argument("--profile-modes", type=lambda s: s.split(","), default=["preselect", "no-preselect"])
    parser.add_argument("--out", type=Path, help="write the markdown tables here")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    if args.executor == "local" and args.workers != 1:
        parser.error("--executor local runs one process: give --workers 1")
    os.environ.update(ENV)
    parts = set(args.parts.split(","))
    files = bench_files(args.files)
    truth = truth_pages(files)
    tmp = Path(tempfile.mkdtemp(prefix="curation-build-bench-"))
    res: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_start": os.getloadavg()[0],
    }
    try:
        if "throughput" in parts:
            res["throughput"] = throughput(args, files, tmp)
        if "recall" in parts:
            res["recall"] = recall(args, files, tmp, truth)
        if "cld2" in parts:
            res["cld2"] = cld2_separation(files, truth, args.recall_langs)
        if "extraction" in parts:
            res["extraction"] = extraction(files, truth)
        if "profile" in parts:
            res["profile"] = stage_profile(files, args.lang, args.profile_modes)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["load_end"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=lambda o: o.__dict__))
    text = markdown(res, args)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
