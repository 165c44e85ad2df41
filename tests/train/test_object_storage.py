"""`curation train` with its output on S3 (moto's S3 server on 127.0.0.1): sharded checkpoints, metrics and
the export go through fsspec, only the last K checkpoints stay, a job resumes from the bucket exactly, and
`curation export` exports a checkpoint straight from the bucket."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from curation.core import io
from tests.train.conftest import losses, tiny_config, train

BUCKET = "train-runs"


@pytest.fixture(scope="module")
def s3(s3_server: tuple) -> dict:
    _, options, client = s3_server
    client.create_bucket(Bucket=BUCKET)
    return {"client": client, "options": options}


def keys(client, prefix: str) -> list[str]:  # noqa: ANN001 - boto3 client
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"][len(prefix) :] for page in pages for o in page.get("Contents", []))


def tensors(data: bytes) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    return load(data)


def same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_train_resume_and_export_on_s3(packed: Path, tmp_path: Path, s3: dict) -> None:
    from curation.train.export import Export

    local = tiny_config(packed, tmp_path / "local", max_steps=10, ema_decay=0.9)
    train(local)
    remote = {
        **local,
        "output": f"s3://{BUCKET}/cpt",
        "storage_options": s3["options"],
        "checkpoint": {"every_steps": 2, "keep_last": 2, "format": "sharded"},
    }
    first = train({**remote, "stop_after_steps": 5})
    assert first["checkpoint"] == f"s3://{BUCKET}/cpt/checkpoints/step_00000005"
    summary = train({**remote, "resume": True})
    assert summary["resumed_from"] == first["checkpoint"] and summary["steps_run"] == 5

    client = s3["client"]
    listed = keys(client, "cpt/")
    checkpoints = {k.split("/")[1] for k in listed if k.startswith("checkpoints/")}
    assert checkpoints == {"step_00000008", "step_00000010"}  # keep_last 2
    assert {"checkpoints/step_00000010/.metadata", "checkpoints/step_00000010/trainer_state.json"} <= set(
        listed
    )
    assert {"metrics.jsonl", "_run/stats.json", "_run/curves.png", "export/model.safetensors"} <= set(listed)

    io.set_storage_options(s3["options"])
    from curation.train.metrics import read_metrics

    remote_losses = [r["loss"] for r in read_metrics(f"s3://{BUCKET}/cpt/metrics.jsonl") if "loss" in r]
    assert remote_losses == losses(tmp_path / "local")  # resumed from the bucket, exactly
    body = client.get_object(Bucket=BUCKET, Key="cpt/export_ema/model.safetensors")["Body"].read()
    local_ema = (tmp_path / "local" / "export_ema" / "model.safetensors").read_bytes()
    assert same_tensors(tensors(body), tensors(local_ema))

    # any checkpoint, straight from the bucket, in one command
    stats = Export.call(
        run=f"s3://{BUCKET}/cpt", step=10, output=str(tmp_path / "exported"), storage_options=s3["options"]
    )
    assert stats["summary"]["step"] == 10
    for name in ("export", "export_ema"):
        exported = (tmp_path / "exported" / name / "model.safetensors").read_bytes()
        trained = (tmp_path / "local" / name / "model.safetensors").read_bytes()
        assert same_tensors(tensors(exported), tensors(trained)), name
    assert (tmp_path / "exported" / "export" / "tokenizer.json").exists()
