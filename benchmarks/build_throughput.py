"""Build throughput: `curation build` versus a datatrove FineWeb-2-style reference, on the same input, one run.

Scenarios (both made of real records from ../shared/data/warc, repeated for volume):
  pages-dev  the real pages of pages-dev.warc.gz repeated to --pages-dev-pages pages (issue 2);
  cc-like    response records drawn so that the target language is about 3% of HTML pages and the rest follows
             a Common-Crawl-like spread (mostly English, then Russian, German, Chinese, Japanese, Spanish,
             French...), --cc-pages pages (issue 7).
Each scenario is split into --files WARC files (one task per file for both tools) and run with --workers
processes. Reported: pages per second per core = HTML pages / (wall seconds x workers), and the ratio to the
reference; for cc-like also the recall of pre-selection (target documents kept with it / without it).

    python benchmarks/build_throughput.py --lang pt --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

DATA = Path(os.environ.get("CURATION_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
SOURCES = (
    "pages-dev.warc.gz",
    "cc-main-2020-34_resiliparse-warcfile.warc.gz",
    "dolma-wget-sample-0000.warc.gz",
    "dolma-wget-sample-0001.warc.gz",
    "clueweb09-ja_resiliparse-clueweb-quirk.warc.gz",
    "whirlwind.warc.gz",
)
# Share of HTML pages per language, roughly Common Crawl's (CC-MAIN-2024 language statistics, rounded).
CC_SPREAD = {
    "en": 0.46,
    "ru": 0.07,
    "de": 0.07,
    "zh": 0.07,
    "ja": 0.06,
    "es": 0.06,
    "fr": 0.05,
    "it": 0.03,
    "pl": 0.02,
    "nl": 0.02,
    "ko": 0.01,
    "id": 0.01,
}


def response_members() -> list[tuple[str, bytes]]:
    """Every HTTP response record of the source WARCs as (quick-LID language, raw gzip member bytes)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from curation.builder.extract import decode_html, quick_text
    from curation.builder.lid import LanguageIdentifier
    from curation.builder.warc import _read_http_head

    lid = LanguageIdentifier()
    members = []
    for name in SOURCES:
        path = DATA / "warc" / name
        raw = path.read_bytes()
        starts = [rec.stream_pos for rec in ArchiveIterator(str(path), parse_http=False)] + [len(raw)]
        ends = dict(zip(starts, starts[1:]))
        for rec in ArchiveIterator(str(path), record_types=WarcRecordType.response, parse_http=False):
            head, body = _read_http_head(rec.reader)
            body += rec.reader.read()
            quick, _ = quick_text(decode_html(body if head else head + body), 2000)
            members.append((lid.top(quick)[0], raw[rec.stream_pos : ends[rec.stream_pos]]))
    return members


def write_files(members: list[bytes], out_dir: Path, n_files: int) -> list[str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_files):
        path = out_dir / f"bench-{i:03d}.warc.gz"
        path.write_bytes(b"".join(members[i::n_files]))
        paths.append(str(path))
    return paths


def pages_dev_input(n_pages: int, out_dir: Path, n_files: int) -> list[str]:
    pool = [m for _, m in response_members()[:238]]  # pages-dev comes first
    return write_files([pool[i % len(pool)] for i in range(n_pages)], out_dir, n_files)


def cc_like_input(
    n_pages: int, target: str, target_share: float, out_dir: Path, n_files: int, seed: int = 0
) -> tuple[list[str], dict[str, int]]:
    by_lang: dict[str, list[bytes]] = defaultdict(list)
    for lang, member in response_members():
        by_lang[lang].append(member)
    spread = {k: v for k, v in CC_SPREAD.items() if k != target and by_lang.get(k)}
    scale = (1 - target_share) / sum(spread.values())
    shares = {target: target_share, **{k: v * scale for k, v in spread.items()}}
    rng = random.Random(seed)
    counts = {lang: round(share * n_pages) for lang, share in shares.items()}
    members = [rng.choice(by_lang[lang]) for lang, n in counts.items() for _ in range(n)]
    rng.shuffle(members)
    return write_files(members, out_dir, n_files), counts


def run_reference(files: list[str], out: Path, lang: str, workers: int) -> float:
    """datatrove: WarcReader -> Trafilatura -> LanguageFilter -> Gopher repetition -> FineWeb quality -> Gopher
    quality (target-language stop words) -> ParquetWriter, on LocalPipelineExecutor. Returns wall seconds."""
    code = f"""
import sys
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import WarcReader
from datatrove.pipeline.extractors import Trafilatura
from datatrove.pipeline.filters import LanguageFilter, GopherRepetitionFilter, GopherQualityFilter
from datatrove.pipeline.filters import FineWebQualityFilter
from datatrove.pipeline.writers import ParquetWriter
from datatrove.utils.lid import FT176LID
from curation.builder.lid import default_model_path
from curation.filters.heuristics.presets import load_preset

class LocalFT176(FT176LID):
    @property
    def model(self):
        if self._model is None:
            from fasttext.FastText import _FastText
            self._model = _FastText(default_model_path())
        return self._model

class OfflineLanguageFilter(LanguageFilter):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.model = LocalFT176(self.languages)

preset = load_preset({lang!r})
if __name__ == "__main__":
    LocalPipelineExecutor(
        pipeline=[
            WarcReader({str(Path(files[0]).parent)!r}, glob_pattern="*.warc.gz"),
            Trafilatura(favour_precision=True, timeout=10),
            OfflineLanguageFilter(languages=[{lang!r}], language_threshold=preset.lid_threshold),
            GopherRepetitionFilter(language={lang!r}),
            FineWebQualityFilter(language={lang!r}),
            GopherQualityFilter(stop_words=preset.stopwords, language={lang!r}),
            ParquetWriter({str(out / "docs")!r}),
        ],
        tasks={len(files)}, workers={workers}, logging_dir={str(out / "logs")!r},
    ).run()
"""
    script = out / "reference.py"
    out.mkdir(parents=True, exist_ok=True)
    script.write_text(code)
    start = time.perf_counter()
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True)
    return time.perf_counter() - start


def run_curation(files: list[str], out: Path, lang: str, workers: int, preselect: bool) -> tuple[float, dict]:
    cmd = [
        sys.executable,
        "-m",
        "curation.cli",
        "build",
        "--lang",
        lang,
        "--output",
        str(out),
        "--workers",
        str(workers),
        "--preselect" if preselect else "--no-preselect",
    ]
    for f in files:
        cmd += ["--input", f]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - start
    return wall, json.loads((out / "_run" / "stats.json").read_text())


def kept_ids(out: Path, lang: str) -> list[str]:
    import polars as pl

    files = sorted((out / lang).glob("*.parquet"))
    return pl.read_parquet(files)["id"].to_list() if files else []


def scenario(
    name: str, files: list[str], n_pages: int, lang: str, workers: int, tmp: Path, with_no_preselect: bool
) -> dict:
    result: dict = {"scenario": name, "html_pages": n_pages, "workers": workers, "files": len(files)}
    ref_wall = run_reference(files, tmp / f"{name}-ref", lang, workers)
    runs = {"datatrove_reference": ref_wall}
    if with_no_preselect:
        wall, _ = run_curation(files, tmp / f"{name}-full", lang, workers, preselect=False)
        runs["curation_no_preselect"] = wall
    wall, stats = run_curation(files, tmp / f"{name}-pre", lang, workers, preselect=True)
    runs["curation"] = wall
    for key, wall in runs.items():
        result[key] = {
            "wall_seconds": round(wall, 1),
            "pages_per_second_per_core": round(n_pages / wall / workers, 2),
            "speedup_vs_reference": round(ref_wall / wall, 2),
        }
    result["curation_kept_docs"] = stats["stages"]["fineweb"]["out"] if "fineweb" in stats["stages"] else 0
    result["curation_time_by_stage_seconds"] = stats["timings"]
    if with_no_preselect:
        full = set(kept_ids(tmp / f"{name}-full", lang))
        pre = set(kept_ids(tmp / f"{name}-pre", lang))
        result["preselect_recall"] = round(len(full & pre) / len(full), 4) if full else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lang", default="pt")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--pages-dev-pages", type=int, default=3000)
    parser.add_argument("--cc-pages", type=int, default=20000)
    parser.add_argument("--target-share", type=float, default=0.03)
    parser.add_argument("--scenarios", default="pages-dev,cc-like")
    parser.add_argument("--json", help="Also write the results here.")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="curation-bench-"))
    results = []
    try:
        if "pages-dev" in args.scenarios:
            files = pages_dev_input(args.pages_dev_pages, tmp / "pages-dev-in", args.files)
            results.append(
                scenario("pages-dev", files, args.pages_dev_pages, args.lang, args.workers, tmp, False)
            )
            print(json.dumps(results[-1], indent=1), flush=True)
        if "cc-like" in args.scenarios:
            files, counts = cc_like_input(
                args.cc_pages, args.lang, args.target_share, tmp / "cc-in", args.files
            )
            res = scenario("cc-like", files, sum(counts.values()), args.lang, args.workers, tmp, True)
            res["pages_per_language"] = counts
            results.append(res)
            print(json.dumps(res, indent=1), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for r in results:
        print(
            f"{r['scenario']}: "
            + "; ".join(
                f"{k} {r[k]['pages_per_second_per_core']} pages/s/core (x{r[k]['speedup_vs_reference']})"
                for k in ("datatrove_reference", "curation_no_preselect", "curation")
                if k in r
            )
            + (f"; preselect recall {r['preselect_recall']}" if "preselect_recall" in r else "")
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
