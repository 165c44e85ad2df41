"""Splits inside a WARC (issue 13.3): peak memory per worker and wall time on one WARC of at least 1 GB.

The WARC is made of the CC-MAIN-BENCH dev records (real pages) REPEATED for volume: every copy after the first
gets new WARC-Record-IDs (uuid5 of the copy number and the old id, so a response and its metadata record still
point at each other), one gzip member per record (zlib level 1), written under /tmp (never into the
repository) and reused when it is already there. Runs, all `curation build --lang pt` on the Ray executor, each in
its own process:
  no split, N workers      the WARC is one unit (one core works, the others wait)
  split, 1 worker          --split-bytes S: ranges cut at record boundaries, one unit each
  split, N workers
Reported: units, wall seconds, peak RSS of a worker (the largest over units), kept documents (equal in every
run, or the script says so). Because the records repeat, kept-document counts are not a quality figure.

    python benchmarks/warc_splits.py --gb 1.0 --split-mb 64 --workers 2 --out benchmarks/results/warc_splits.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATA = Path(os.environ.get("CURATION_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
BENCH = DATA / "bench"
_UUID = re.compile(rb"urn:uuid:([0-9a-fA-F-]{36})")


def _members(path: Path) -> list[bytes]:
    """The decompressed gzip members (WARC records) of a per-record-gzip WARC."""
    buf, pos, out = memoryview(path.read_bytes()), 0, []
    while pos < len(buf):
        d = zlib.decompressobj(31)
        out.append(d.decompress(buf[pos:]))
        pos = len(buf) - len(d.unused_data)
    return out


def _renamed(record: bytes, copy: int) -> bytes:
    head, sep, body = record.partition(b"\r\n\r\n")
    new = _UUID.sub(
        lambda m: b"urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{copy}:{m[1].decode()}")).encode(), head
    )
    return new + sep + body


def make_warc(dest: Path, min_bytes: int) -> tuple[int, int]:
    """Write the repeated WARC (if not there yet); returns (bytes, copies)."""
    done = dest.with_suffix(".done")
    if done.exists():
        return dest.stat().st_size, int(done.read_text())
    records = [m for w in sorted(BENCH.glob("*.warc.gz")) for m in _members(w)]
    info, records = (
        records[0],
        [r for r in records if b"WARC-Type: warcinfo" not in r.partition(b"\r\n\r\n")[0]],
    )
    written, copy = 0, 0
    with open(dest, "wb") as f:
        member = zlib.compressobj(1, zlib.DEFLATED, 31)
        written += f.write(member.compress(info) + member.flush())
        while written < min_bytes:
            for rec in records:
                member = zlib.compressobj(1, zlib.DEFLATED, 31)
                written += f.write(member.compress(_renamed(rec, copy) if copy else rec) + member.flush())
            copy += 1
    done.write_text(str(copy))
    return written, copy


def _run(warc: Path, out: Path, workers: int, split_bytes: int | None) -> dict:
    """One build in its own process (its own Ray: worker peak memory is not carried over between runs)."""
    cmd = [sys.executable, "-m", "curation.cli", "build", "--lang", "pt", "-i", str(warc), "-o", str(out)]
    cmd += ["--workers", str(workers), *(["--split-bytes", str(split_bytes)] if split_bytes else [])]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    stats = json.loads((out / "_run" / "stats.json").read_text())
    return {
        "units": stats["units"]["total"],
        "wall": wall,
        "rss": stats["memory"]["peak_rss_mb_per_worker"],
        "kept": sum(stats["summary"]["kept_documents"].values()),
        "pages": stats["stages"]["warc"]["out"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=1.0, help="Least size of the WARC, in 10^9 bytes.")
    ap.add_argument("--split-mb", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/warc_splits.md")
    args = ap.parse_args()

    warc = Path(tempfile.gettempdir()) / f"cc-main-bench-dev-REPEATED-{args.gb:g}GB.warc.gz"
    t0 = time.perf_counter()
    size, copies = make_warc(warc, int(args.gb * 1e9))
    print(f"{warc}: {size:,} bytes, {copies} copies ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    split = args.split_mb * 2**20
    runs = [
        (f"no split, {args.workers} workers", args.workers, None),
        ("split, 1 worker", 1, split),
        (f"split, {args.workers} workers", args.workers, split),
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="warc_splits-") as work:
        for i, (name, workers, split_bytes) in enumerate(runs):
            rows.append((name, _run(warc, Path(work) / str(i), workers, split_bytes)))
            print(name, rows[-1][1], file=sys.stderr)
    same = len({r["kept"] for _, r in rows}) == 1 and len({r["pages"] for _, r in rows}) == 1
    lines = [
        "# Splits inside a WARC (issue 13.3)",
        "",
        f"`python benchmarks/warc_splits.py --gb {args.gb:g} --split-mb {args.split_mb} --workers {args.workers}`; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average at the end {os.getloadavg()[0]:.1f}.",
        "",
        f"Input: one WARC of {size:,} bytes made of the CC-MAIN-BENCH dev records **repeated {copies} times** "
        "(new WARC-Record-IDs per copy; real pages, repetition only for volume), gzip per record. "
        f"`curation build --lang pt` on local Ray; split ranges of {args.split_mb} MiB.",
        "",
        "| run | units | HTML pages | kept docs | wall s | peak RSS per worker (MB) |",
        "|---|---:|---:|---:|---:|---:|",
        *[
            f"| {name} | {r['units']} | {r['pages']:,} | {r['kept']:,} | {r['wall']:.0f} | {r['rss']:.0f} |"
            for name, r in rows
        ],
        "",
        f"Same pages and kept documents in every run: {same}.",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
