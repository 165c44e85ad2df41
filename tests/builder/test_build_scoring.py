"""Classifier scores and bad-word signals inside `curation build` (issue 3: the stage is usable in the build)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from curation.builder.stage import document_schema
from curation.core.schema import BADWORD_COUNT, BADWORD_RATIO, score_column

from .conftest import read_docs, run_cli


def test_build_adds_score_and_badword_columns(tmp_path: Path, data_dir: Path, warc_dir: Path) -> None:
    model = tmp_path / "edu"
    res = run_cli(
        "classifier",
        "train",
        "--task",
        "edu",
        "--data",
        str(data_dir / "labels" / "web_docs_llm_judged.jsonl"),
        "--label-column",
        "edu",
        "--output",
        str(model),
    )
    assert res.exit_code == 0, res.output
    out = tmp_path / "out"
    res = run_cli(
        "build",
        "--lang",
        "de",
        "--input",
        str(warc_dir / "pages-dev.warc.gz"),
        "--output",
        str(out),
        "--executor",
        "local",
        "--classifier",
        str(model),
        "--badwords",
        str(data_dir / "toxicity"),
    )
    assert res.exit_code == 0, res.output
    docs = read_docs(out, "de")
    assert len(docs) >= 10
    edu = docs[score_column("edu")].to_numpy()
    assert np.isfinite(edu).all() and 0 <= edu.min() and edu.max() <= 5 and edu.std() > 0
    assert docs[BADWORD_RATIO].null_count() == 0 and (docs[BADWORD_COUNT] >= 0).all()
    schema = pq.read_schema(sorted((out / "de").glob("*.parquet"))[0])
    names = document_schema().names
    assert schema.names[: len(names)] == names  # scores are added, nothing renamed
