"""`curation score` and `curation filter --where` end to end on real documents, including resume."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest
import yaml

from curation.core.errors import CurationError
from curation.core.schema import (
    BADWORD_COUNT,
    BADWORD_RATIO,
    CLASSIFIER_REPORT,
    CONFIG_FILE,
    DONE_DIR,
    ID,
    LANG,
    RUN_DIR,
    STATS_FILE,
)
from curation.filters.badwords import BadWords
from curation.filters.score import Score
from curation.filters.training import ClassifierTrain
from curation.filters.where import Filter
from tests.filters.conftest import TOLD_LABEL_SQL


def _curation(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "curation.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def edu_model(tmp_path_factory, labels_path):
    """A fastText edu scorer trained on the real LLM-judged labels (fast to train and to score)."""
    out = tmp_path_factory.mktemp("edu_model")
    ClassifierTrain.call(
        task="edu",
        data=str(labels_path),
        label_column="edu",
        backend="fasttext",
        output=str(out),
        params={"bucket": 100_000},
    )
    return out


def _read(directory):
    return pl.concat([pl.read_parquet(p) for p in sorted(directory.rglob("part-*.parquet"))], how="diagonal")


def test_score_cli_adds_columns_and_keeps_inputs(tmp_path, shards_dir, edu_model, badword_dir):
    out = tmp_path / "scored"
    proc = _curation(
        "score",
        "-i",
        str(shards_dir),
        "-o",
        str(out),
        "--classifier",
        str(edu_model),
        "--classifier",
        f"edu2={edu_model}",
        "--badwords",
        str(badword_dir),
        "--executor",
        "local",
    )
    assert proc.returncode == 0, proc.stderr
    assert "scored 333 docs in 3 shards" in proc.stdout.replace("\n", " ")
    source, scored = _read(shards_dir), _read(out)
    assert scored.columns == [*source.columns, "edu_score", "edu2_score", BADWORD_COUNT, BADWORD_RATIO]
    assert scored.select(source.columns).equals(source)
    assert scored["edu_score"].dtype == pl.Float32 and scored["edu_score"].null_count() == 0
    assert (scored["edu_score"] == scored["edu2_score"]).all()
    listed = BadWords.from_dirs([badword_dir]).languages
    has_list = pl.col(LANG).is_in(listed).fill_null(False)
    assert scored.filter(has_list)[BADWORD_COUNT].null_count() == 0
    assert scored.filter(~has_list)[BADWORD_RATIO].null_count() == scored.filter(~has_list).height > 0
    config = yaml.safe_load((out / RUN_DIR / CONFIG_FILE).read_text())
    assert config["command"] == "score" and config["config"]["classifier"][1] == f"edu2={edu_model}"
    stats = json.loads((out / RUN_DIR / STATS_FILE).read_text())
    assert stats["stages"]["score"]["out"] == 333 and stats["summary"]["shards"] == 3
    assert stats["summary"]["documents"] == 333 and stats["units"]["total"] == 3
    assert set(stats["summary"]["mean"]) == {"edu_score", "edu2_score", BADWORD_COUNT, BADWORD_RATIO}
    assert (out / RUN_DIR / "scores.png").is_file()


def test_score_resumes_only_missing_shards(tmp_path, shards_dir, edu_model):
    cfg = {
        "input": [str(shards_dir)],
        "output": str(tmp_path),
        "classifier": [str(edu_model)],
        "executor": "local",
    }
    Score.call(**cfg)
    first = _read(tmp_path)
    assert len(list((tmp_path / RUN_DIR / DONE_DIR / "score").glob("*.json"))) == 3
    (tmp_path / "pt" / "part-0.parquet").unlink()  # as if killed after the others were written
    stats = Score.call(**cfg)
    assert stats["units"] == {"total": 3, "resumed": 2, "processed": 1, "failed": 0}
    assert stats["stages"]["score"]["out"] == 333 and stats["summary"]["documents"] == 333
    assert _read(tmp_path).sort(ID).equals(first.sort(ID))


def test_score_on_ray_actor_pool(tmp_path, shards_dir, edu_model, ray_session):
    stats = Score.call(
        input=[str(shards_dir)],
        output=str(tmp_path / "ray"),
        classifier=[str(edu_model)],
        executor="ray",
        workers=2,
    )
    assert stats["stages"]["score"]["out"] == 333
    local = tmp_path / "local"
    Score.call(input=[str(shards_dir)], output=str(local), classifier=[str(edu_model)], executor="local")
    assert _read(tmp_path / "ray").sort(ID)["edu_score"].equals(_read(local).sort(ID)["edu_score"])


def test_filter_where_keeps_matching_rows(tmp_path, shards_dir, edu_model):
    scored = tmp_path / "scored"
    Score.call(input=[str(shards_dir)], output=str(scored), classifier=[str(edu_model)], executor="local")
    out = tmp_path / "kept"
    threshold = float(_read(scored)["edu_score"].median())  # the model's scale moves with its training
    where = f"edu_score >= {threshold!r} and lang = 'pt'"
    summary = Filter.call(input=[str(scored)], output=str(out), where=where)["summary"]
    expected = _read(scored).filter((pl.col("edu_score") >= threshold) & (pl.col(LANG) == "pt"))
    kept = _read(out)
    assert 0 < kept.height < 333 and kept.sort(ID).equals(expected.sort(ID))
    stats = json.loads((out / RUN_DIR / STATS_FILE).read_text())
    assert stats["stages"]["where"] == {
        "in": 333,
        "out": kept.height,
        "dropped": {"where": 333 - kept.height},
        "seconds": 0.0,
    }
    assert summary == {"shards": 3, "documents_in": 333, "documents_kept": kept.height}


def test_user_errors_exit_2_with_one_line(tmp_path, shards_dir, edu_model):
    proc = _curation("filter", "-i", str(shards_dir), "-o", str(tmp_path / "f"), "--where", "edu_scor >= 3")
    assert proc.returncode == 2 and "unknown column 'edu_scor'" in proc.stderr
    lines = proc.stderr.strip().splitlines()  # a progress line may come first: one error line, the last
    assert lines[-1].startswith("error: unknown column") and sum("error" in line for line in lines) == 1
    proc = _curation(
        "score",
        "-i",
        str(shards_dir),
        "-o",
        str(tmp_path / "s"),
        "--classifier",
        str(tmp_path / "missing"),
        "--executor",
        "local",
    )
    assert proc.returncode == 2 and "not a classifier" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1  # checked before any work starts
    with pytest.raises(CurationError, match="nothing to score"):
        Score.call(input=[str(shards_dir)], output=str(tmp_path / "n"))


def test_classifier_train_cli_reads_config_and_flags_win(tmp_path, told_sample):
    config = tmp_path / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {"task": "wrong", "label_sql": TOLD_LABEL_SQL, "params": {"C": 1.0}, "test_fraction": 0.25}
        )
    )
    out = tmp_path / "model"
    proc = _curation(
        "classifier",
        "train",
        "-c",
        str(config),
        "--task",
        "toxicity",
        "--data",
        str(told_sample),
        "-o",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / CLASSIFIER_REPORT).read_text())
    # a quarter of the 3,000 rows held out, identical tweets kept on one side (split by distinct text): 751
    assert report["task"] == "toxicity" and report["test_rows"] == 751 and report["roc_auc"] > 0.7
    resolved = yaml.safe_load((out / RUN_DIR / CONFIG_FILE).read_text())["config"]
    assert resolved["label_sql"] == TOLD_LABEL_SQL and resolved["params"] == {"C": 1.0}
    config.write_text(yaml.safe_dump({"task": "t", "label_colum": "x"}))
    proc = _curation("classifier", "train", "-c", str(config), "--data", str(told_sample), "-o", str(out))
    assert proc.returncode == 2 and "label_colum" in proc.stderr
