"""A real two-node Ray cluster on this machine: the worker node is killed mid-run, its tasks are retried on the
head node, and the output has no duplicates and no gaps compared with a clean run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curation.core.schema import ID, WARC_PATH

from .conftest import read_docs


def _keys(out: Path) -> list[tuple[str, str]]:
    docs = read_docs(out, "de")
    return sorted(zip((Path(p).name for p in docs[WARC_PATH]), docs[ID]))


@pytest.mark.slow
def test_killing_a_worker_node_loses_and_duplicates_nothing(tmp_path: Path, warc_dir: Path) -> None:
    from ray.cluster_utils import Cluster

    inputs = []
    for i in range(6):  # two waves over the three CPUs of the cluster: the kill lands mid-run
        copy = tmp_path / "in" / f"part-{i}.warc.gz"
        copy.parent.mkdir(exist_ok=True)
        shutil.copy(warc_dir / "pages-dev.warc.gz", copy)
        inputs.append(str(copy))
    args = ["build", "--lang", "de"] + [a for p in inputs for a in ("--input", p)]

    clean = tmp_path / "clean"
    subprocess.run(
        [sys.executable, "-m", "curation.cli", *args, "--output", str(clean), "--executor", "local"],
        check=True,
        capture_output=True,
    )
    expected = _keys(clean)
    assert len(expected) >= 6 * 10

    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        worker = cluster.add_node(num_cpus=2)
        out = tmp_path / "cluster"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "curation.cli",
                *args,
                "--output",
                str(out),
                "--ray-address",
                cluster.address,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        parts = out / "_run" / "done" / "build"
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None and not any(parts.glob("*.json")):
            time.sleep(0.2)
        assert proc.poll() is None, "the build finished before the worker node could be killed"
        done_before_kill = len(list(parts.glob("*.json")))
        cluster.remove_node(worker, allow_graceful=False)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        cluster.shutdown()
    assert proc.returncode == 0, stderr[-3000:]
    assert done_before_kill < len(inputs)
    got = _keys(out)
    assert len(got) == len(set(got))  # no duplicates
    assert got == expected  # no gaps
