"""A Ray cluster whose nodes share no disk: three raylets on this machine, each with its own scratch folder
(TMPDIR), and nothing but the object store (a real S3 server on 127.0.0.1) between them. Inputs, models, the
tokenizer and every output live on S3; build -> score -> dedup -> mix -> pack run on the cluster, a worker node
is killed in the middle of the build (its units are retried on the other nodes), and the results equal a clean
local run: nothing lost, nothing duplicated."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from curation.cli import app
from curation.core import io
from tests.regression.pipeline import manifest_digest, table_digest

TOKENIZER = "tokenizers/dolma_test_tokenizers/gpt-neo-test-tokenizer.json"
COPIES = 6  # copies of pages-dev.warc.gz under other names: two waves of build units over three CPUs


def _cli(args: list[str], cwd: Path, env: dict[str, str], wait: bool = True) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "curation.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if wait:
        _, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"curation {args[0]}: {stderr[-3000:]}"
    return proc


def _stages(root: str, inputs: list[str], models: dict[str, str], mode: list[str]) -> list[list[str]]:
    """The command lines of the pipeline under ``root``; ``mode`` says how to run (executor, cluster, S3)."""
    run = lambda name: io.join(root, name)  # noqa: E731
    spec = [
        f"--tokenizer={models['tokenizer']}",
        "--seq-len=64",
        "--total-tokens=20000",
        "--allow-renormalize",
        f"--sources=de.paths=[{run('dedup')}]",
        "--sources=de.weight=0.75",
        "--sources=de.max_epochs=4",
        f"--sources=en.paths=[{models['english']}]",
        "--sources=en.weight=0.25",
    ]
    build = [
        "build",
        "--lang",
        "de",
        "--keep-rejected",
        "-o",
        run("build"),
        *[a for i in inputs for a in ("-i", i)],
    ]
    return [
        build + mode,
        ["score", "-i", run("build/de"), "--badwords", models["badwords"], "-o", run("score"), *mode],
        ["dedup", "-i", run("score"), "-o", run("dedup"), "--write-removed", *mode],
        ["mix", *spec, "-o", run("mix"), *mode],
        ["pack", "-m", run("mix"), "-o", run("pack"), "--sequences-per-shard", "64", *mode],
    ]


def _digests(root: Path) -> dict:
    tables = {
        name: table_digest(list((root / name).glob("*.parquet")), exclude=("warc_path",))
        for name in ("build/de", "build/rejected", "score", "dedup", "dedup/removed")
    }
    arrays = [np.load(p).tobytes() for p in sorted((root / "pack").glob("shard_*.npy"))]
    return {**tables, "mix": manifest_digest(root / "mix"), "pack": arrays}


@pytest.mark.slow
def test_pipeline_on_a_cluster_without_a_shared_disk(
    tmp_path: Path, s3_server, warc_dir: Path, data_dir: Path
):
    from ray.cluster_utils import Cluster

    endpoint, options, s3 = s3_server
    s3.create_bucket(Bucket="cluster")
    local_inputs = tmp_path / "inputs"
    local_inputs.mkdir()
    for i in range(COPIES):
        shutil.copy(warc_dir / "pages-dev.warc.gz", local_inputs / f"part-{i}.warc.gz")
        s3.upload_file(str(local_inputs / f"part-{i}.warc.gz"), "cluster", f"crawl/part-{i}.warc.gz")
    s3.upload_file(str(data_dir / TOKENIZER), "cluster", "models/tokenizer.json")
    english = data_dir / "text/en/nltk/inaugural/1789-Washington.txt"
    s3.upload_file(str(english), "cluster", "text/en/1789-Washington.txt")
    for path in (data_dir / "toxicity" / "ldnoobw_v1").rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), "cluster", f"models/badwords/{path.name}")

    # the clean reference: the same command lines, in this process, on local files
    local = tmp_path / "local"
    local_models = {
        "tokenizer": str(data_dir / TOKENIZER),
        "english": str(english),
        "badwords": str(data_dir / "toxicity" / "ldnoobw_v1"),
    }
    local_inputs_list = [str(local_inputs / f"part-{i}.warc.gz") for i in range(COPIES)]
    for args in _stages(str(local), local_inputs_list, local_models, ["--executor", "local"]):
        assert CliRunner().invoke(app, args).exit_code == 0, args
    env = dict(os.environ, RAY_AUTH_MODE="disabled", OMP_NUM_THREADS="1")

    scratch = {name: tmp_path / f"node-{name}" for name in ("head", "a", "b", "driver")}
    for folder in scratch.values():
        folder.mkdir()
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "env_vars": {"TMPDIR": str(scratch["head"])}}
    )
    try:
        cluster.add_node(num_cpus=1, env_vars={"TMPDIR": str(scratch["a"])})
        doomed = cluster.add_node(num_cpus=1, env_vars={"TMPDIR": str(scratch["b"])})
        s3_flags = [f"--storage-options=s3.{k}={v}" for k, v in options["s3"].items()]
        mode = ["--ray-address", cluster.address, *s3_flags]
        models = {
            "tokenizer": "s3://cluster/models/tokenizer.json",
            "english": "s3://cluster/text/en/1789-Washington.txt",
            "badwords": "s3://cluster/models/badwords",
        }
        inputs = [f"s3://cluster/crawl/part-{i}.warc.gz" for i in range(COPIES)]
        stages = _stages("s3://cluster/run", inputs, models, mode)
        driver_env = dict(env, TMPDIR=str(scratch["driver"]))
        build = _cli(stages[0], scratch["driver"], driver_env, wait=False)
        deadline = time.time() + 600

        def done() -> int:  # completion records of build units on S3
            return s3.list_objects_v2(Bucket="cluster", Prefix="run/build/_run/done/build/").get(
                "KeyCount", 0
            )

        while time.time() < deadline and build.poll() is None and done() == 0:
            time.sleep(0.2)
        assert build.poll() is None, "the build finished before a node could be killed"
        done_before_kill = done()
        cluster.remove_node(doomed, allow_graceful=False)
        _, stderr = build.communicate(timeout=900)
        assert build.returncode == 0, stderr[-3000:]
        assert done_before_kill < COPIES
        for args in stages[1:]:
            _cli(args, scratch["driver"], driver_env)
    finally:
        cluster.shutdown()

    fetched = tmp_path / "from-s3"
    io.set_storage_options(options)
    try:
        for path in io.find("s3://cluster/run"):
            target = fetched / path[len("s3://cluster/run/") :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(io.read_bytes(path))
    finally:
        io.set_storage_options({})
    got, expected = _digests(fetched), _digests(local)
    assert got["build/de"]["rows"] >= COPIES * 10
    for key in expected:
        assert got[key] == expected[key], key
    # nothing but the object store carried data: no node or driver wrote an output to a local disk, and each
    # node read models and the tokenizer from its own local copy of their S3 objects
    for name, folder in scratch.items():
        local_outputs = [
            p
            for p in folder.rglob("*")
            if p.suffix in (".parquet", ".npy") and "curation-mirror" not in str(p)
        ]
        assert not local_outputs, (name, local_outputs[:3])
    mirrored = [name for name in ("head", "a") if (scratch[name] / "curation-mirror").is_dir()]
    assert mirrored, "the worker nodes read S3 objects through their own local copies"
    assert not any(p for p in scratch["driver"].iterdir() if p.name != "curation-mirror")
