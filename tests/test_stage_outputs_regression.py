"""The stage redesign changed no output: build, score, dedup, mix and pack on the sample data give the same
tables (rows by id, columns by name) and the same token arrays as the code before it (commit fa93571: its
`curation` commands gave the digests in ``tests/regression/golden.json``; ``python -m tests.regression.pipeline
OUT DATA`` prints today's).

A deliberate change of any stage's output makes this fail: rerun the pipeline, check the difference is the
intended one, and replace the golden file in the same commit, saying why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.regression.pipeline import run

GOLDEN = Path(__file__).parent / "regression" / "golden.json"


@pytest.mark.slow
def test_sample_pipeline_outputs_equal_the_golden_digests(tmp_path: Path, data_dir: Path) -> None:
    got = run(tmp_path, data_dir)
    golden = json.loads(GOLDEN.read_text())
    assert got.keys() == golden.keys()
    for stage in golden:
        assert got[stage] == golden[stage], stage
