"""`make demo`: the whole product on the real sample data in ../shared/data, on a laptop-sized machine.

Runs each stage through the same CLI a user would type, into one run directory (default ``demo-out/``), and
prints what happened. Set CURATION_DATA to point elsewhere.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

console = Console(stderr=True)


def data_dir() -> Path:
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    path = Path(os.environ.get("CURATION_DATA", default))
    if not path.is_dir():
        sys.exit(f"error: sample data not found at {path} (set CURATION_DATA)")
    return path


def curation(*args: str) -> None:
    """Run one `curation` command as a user would; stop the demo if it fails."""
    cmd = [sys.executable, "-m", "curation.cli", *args]
    console.rule(f"[bold]curation {args[0]}")
    console.print(" ".join(["curation", *args]), style="dim")
    start = time.perf_counter()
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        sys.exit(f"error: `curation {args[0]}` failed with exit code {proc.returncode}")
    console.print(f"[green]done[/green] in {time.perf_counter() - start:.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", default="demo-out")
    parser.add_argument("--lang", default="pt")
    parser.add_argument("--fresh", action="store_true", help="Delete the output directory first.")
    args = parser.parse_args()
    data, out = data_dir(), Path(args.output)
    if args.fresh and out.exists():
        shutil.rmtree(out)
    warcs = sorted(str(p) for p in (data / "warc").glob("*.warc.gz"))
    build_args = [
        "build",
        "--lang",
        args.lang,
        "--output",
        str(out / "build"),
        "--keep-rejected",
        "--workers",
        "2",
    ]
    for warc in warcs:
        build_args += ["--input", warc]
    curation(*build_args)
    console.rule("[bold]demo finished")
    console.print(
        f"outputs under {out}/: build/{args.lang}/*.parquet, build/_run/stats.json, build/_run/funnel.png"
    )


if __name__ == "__main__":
    main()
