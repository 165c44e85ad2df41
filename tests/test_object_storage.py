"""Every stage on object storage: a real S3 server (moto) on 127.0.0.1 holds the inputs and every output of
build -> score -> filter -> dedup -> inventory -> mix -> pack -> report, and the outputs equal a local run's.
Commit semantics hold there too: a rerun resumes from the completion records on S3 and aborts the multipart
uploads a killed run left behind; a scheme no fsspec backend serves is an error, never a local folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from curation.builder.stage import Build
from curation.core import io
from curation.dedup.stage import Dedup
from curation.filters.score import Score
from curation.filters.where import Filter
from curation.mixer.inventory import Inventory
from curation.mixer.manifest import Mix
from curation.mixer.pack import Pack
from curation.report.stage import Report
from tests.regression.pipeline import manifest_digest, table_digest

WARCS = ("pages-dev.warc.gz", "warcio-example.warc.gz", "resiliparse-clipped.warc.gz")
TOKENIZER = "tokenizers/dolma_test_tokenizers/gpt-neo-test-tokenizer.json"


def _pipeline(root: str, warcs: list[str], data: Path, **common: object) -> None:
    """The stages, each reading the previous one's output under ``root`` (a local folder or an s3:// URL);
    ``common`` holds keys every stage gets (storage_options)."""
    run = lambda name: io.join(root, name)  # noqa: E731
    local = {"executor": "local", **common}
    Build.call(lang=["de"], input=warcs, output=run("build"), keep_rejected=True, **local)
    Score.call(input=[run("build/de")], badwords=[str(data / "toxicity")], output=run("score"), **local)
    Filter.call(input=[run("score")], where="badword_ratio < 0.01", output=run("filter"), **common)
    Dedup.call(input=[run("filter")], output=run("dedup"), write_removed=True, **local)
    tokenizer = str(data / TOKENIZER)
    Inventory.call(input=[run("dedup")], tokenizer=tokenizer, output=run("inventory"), **local)
    Mix.call(
        tokenizer=tokenizer,
        seq_len=64,
        total_tokens=16_384,
        allow_renormalize=True,
        sources={
            "de": {"paths": [run("dedup")], "weight": 0.75, "max_epochs": 4},
            "en": {"paths": [str(data / "text/en/nltk/inaugural/17*.txt")], "weight": 0.25},
        },
        output=run("mix"),
        **local,
    )
    Pack.call(manifest=run("mix"), output=run("pack"), sequences_per_shard=64, **local)
    Report.call(run_dir=root, output=run("report"), **common)


def _local_copy(url: str, dest: Path) -> Path:
    for path in io.find(url):
        target = dest / path[len(url) :].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(io.read_bytes(path))
    return dest


def _digests(root: Path) -> dict:
    """Every stage's output by content (tables by rows and columns, token arrays by value)."""
    import pyarrow.parquet as pq

    folders = ("build/de", "build/rejected", "score", "filter", "dedup")
    # warc_path is where the input was read from: a local path in one run, its s3:// URL in the other
    tables = {
        name: table_digest(list((root / name).glob("*.parquet")), exclude=("warc_path",)) for name in folders
    }
    inventory = sorted(map(str, pq.read_table(root / "inventory" / "inventory.parquet").to_pylist()))
    arrays = [np.load(p).tobytes() for p in sorted((root / "pack").glob("shard_*.npy"))]
    report = (root / "report" / "report.html").read_text()
    return {
        **tables,
        "inventory": inventory,
        "mix": manifest_digest(root / "mix"),
        "pack": arrays,
        "report_sections": [s for s in ("funnel", "dedup", "mixture", "samples") if f'id="{s}"' in report],
    }


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory, warc_dir: Path, data_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("local-run")
    _pipeline(str(root), [str(warc_dir / n) for n in WARCS], data_dir)
    return root


@pytest.mark.slow
def test_every_stage_reads_and_writes_s3_and_matches_a_local_run(
    s3_server, local_run: Path, warc_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    _, options, s3 = s3_server
    s3.create_bucket(Bucket="corpus")
    for name in WARCS:
        s3.upload_file(str(warc_dir / name), "corpus", f"crawl/{name}")
    _pipeline("s3://corpus/run", [f"s3://corpus/crawl/{n}" for n in WARCS], data_dir, storage_options=options)
    io.set_storage_options(options)
    try:
        fetched = _local_copy("s3://corpus/run", tmp_path / "from-s3")
    finally:
        io.set_storage_options({})
    assert not list(Path.cwd().glob("s3:*")), "an s3:// output must never become a local folder"
    got, expected = _digests(fetched), _digests(local_run)
    assert got["build/de"]["rows"] > 10 and got["build/rejected"]["rows"] > 0 and got["dedup"]["rows"] > 10
    for key in expected:
        assert got[key] == expected[key], key
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="corpus", Prefix="run/mix/token_cache/")["Contents"]]
    assert any(k.endswith(".tokens.npy") for k in keys)  # the token cache lives on S3 too


@pytest.mark.slow
def test_resume_and_partial_uploads_on_s3(s3_server, warc_dir: Path, tmp_path: Path) -> None:
    _, options, s3 = s3_server
    s3.create_bucket(Bucket="resume")
    warcs = [str(warc_dir / n) for n in WARCS]
    out = "s3://resume/build"
    first = Build.call(lang=["de"], input=warcs, output=out, executor="local", storage_options=options)
    io.set_storage_options(options)
    try:
        records = io.find(io.join(out, "_run/done/build"), "*.json")
        io.remove(records[0])  # as if killed between a unit's shards and its record
        upload = s3.create_multipart_upload(Bucket="resume", Key="build/de/killed-00000.parquet")
        s3.upload_part(
            Bucket="resume",
            Key="build/de/killed-00000.parquet",
            PartNumber=1,
            UploadId=upload["UploadId"],
            Body=b"x",
        )
        again = Build.call(lang=["de"], input=warcs, output=out, executor="local", storage_options=options)
        shards = sorted(p[len(out) + 1 :] for p in io.find(out, "*.parquet"))
    finally:
        io.set_storage_options({})
    assert again["units"] == {"total": 3, "resumed": 2, "processed": 1, "failed": 0}
    counts = lambda stats: {k: (v["in"], v["out"], v["dropped"]) for k, v in stats["stages"].items()}  # noqa: E731
    assert counts(again) == counts(first)  # nothing counted twice, nothing lost
    assert shards == sorted(first["summary"]["shards"]) == sorted(again["summary"]["shards"])
    assert s3.list_multipart_uploads(Bucket="resume").get("Uploads", []) == []  # the killed upload is aborted


@pytest.mark.parametrize("output", ["nosuchfs://bucket/corpus", "s3:/bucket/corpus"])
def test_an_unknown_or_malformed_url_is_an_error_not_a_local_folder(tmp_path: Path, output: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "curation.cli", "build", "--lang", "pt", "-i", "x.warc.gz", "-o", output],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert output.split(":")[0] in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
