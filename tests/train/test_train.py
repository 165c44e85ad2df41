"""The training loop on a tiny Llama over real packed data: learning, exact resume, export, evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from tests.train.conftest import SEQ_LEN, losses, tiny_config, train


@pytest.fixture(scope="module")
def trained(packed: Path, eval_sets: dict[str, list[str]], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One finished 30-step run with evaluation every 10 steps (shared by the tests below)."""
    out = tmp_path_factory.mktemp("run")
    cfg = tiny_config(
        packed, out, max_steps=30, eval={"sets": eval_sets, "every_steps": 10, "max_bytes_per_set": 30_000}
    )
    return {"summary": train(cfg), "out": out, "cfg": cfg}


def test_loss_falls_and_target_language_bpb_improves(trained: dict) -> None:
    summary = trained["summary"]
    steps = losses(trained["out"])
    assert len(steps) == 30 and all(torch.isfinite(torch.tensor(steps)))
    assert (summary["first_loss"], summary["final_loss"]) == (steps[0], steps[-1])
    assert sum(steps[-5:]) / 5 < steps[0] - 0.8  # from ~ln(512)=6.2 nats down
    before, after = summary["eval_bpb_before"], summary["eval_bpb_after"]
    assert set(before) == {"pt", "en"}
    assert after["pt"] < before["pt"] - 0.3


def test_tokens_per_source_follow_the_packed_order(trained: dict, packed: Path) -> None:
    from curation.mixer.dataset import PackedDataset

    ds = PackedDataset(packed)
    sequences = 30 * 8  # steps x sequences per step
    expected = {name: 0 for name in ds.sources}
    for i in range(sequences):
        expected[ds.sources[int(ds[i]["source"])]] += SEQ_LEN
    assert trained["summary"]["tokens_per_source"] == expected
    assert trained["summary"]["tokens_seen"] == sequences * SEQ_LEN


def test_run_leaves_metrics_plot_config_and_stats(trained: dict) -> None:
    out: Path = trained["out"]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval_bpb" in r]
    assert [r["step"] for r in steps] == list(range(1, 31))
    assert {"loss", "lr", "grad_norm", "tokens_per_s", "mfu", "tokens_per_source"} <= set(steps[0])
    assert [r["step"] for r in evals] == [0, 10, 20, 30]
    assert (out / "_run" / "curves.png").stat().st_size > 10_000
    stats = json.loads((out / "_run" / "stats.json").read_text())
    assert stats["stage"] == "train" and stats["summary"] == trained["summary"]
    assert stats["summary"]["step"] == 30 and stats["summary"]["finished"] and stats["summary"]["export"]
    config = yaml.safe_load((out / "_run" / "config.yaml").read_text())
    assert config["command"] == "train" and config["config"]["max_steps"] == 30


def test_resume_gives_bit_identical_losses(packed: Path, tmp_path: Path) -> None:
    train(tiny_config(packed, tmp_path / "a", max_steps=12, checkpoint={"every_steps": 4}))
    straight = losses(tmp_path / "a")
    assert len(straight) == 12
    first = train(tiny_config(packed, tmp_path / "b", max_steps=12, stop_after_steps=7))
    assert not first["finished"] and first["export"] is None and first["steps_run"] == 7
    first_losses = losses(tmp_path / "b")
    second = train(tiny_config(packed, tmp_path / "b", max_steps=12, resume=True))
    assert second["resumed_from"].endswith("step_00000007") and second["steps_run"] == 5
    resumed = losses(tmp_path / "b")
    assert resumed[:7] == first_losses  # the records of the first job are kept as they were
    assert first_losses + resumed[7:] == straight  # exact float equality on CPU
    assert (second["first_loss"], second["final_loss"]) == (resumed[7], resumed[-1])
    logged = [
        json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    ]
    assert logged == list(range(1, 13))  # no gap, no duplicate
    again = train(tiny_config(packed, tmp_path / "b", max_steps=12, resume=True))  # already finished: no-op
    assert again["steps_run"] == 0 and again["step"] == 12
    assert (tmp_path / "b" / "metrics.jsonl").read_text().count("\n") == 12
    a = torch.load(tmp_path / "a" / "checkpoints" / "step_00000012" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "checkpoints" / "step_00000012" / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_export_reloads_with_identical_logits(trained: dict, packed: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from curation.mixer.dataset import PackedDataset
    from curation.mixer.tokenizer import tokenizer_fingerprint
    from curation.train.config import TINY_LLAMA
    from curation.train.model import new_model

    out: Path = trained["out"]
    ds = PackedDataset(packed)
    exported = AutoModelForCausalLM.from_pretrained(out / "export").eval()
    trained_model = new_model(TINY_LLAMA, ds.vocab_size, ds.eos_token_id, "sdpa").eval()
    trained_model.load_state_dict(
        torch.load(out / "checkpoints" / "step_00000030" / "model.pt", weights_only=True)
    )
    ids = torch.stack([ds[i]["input_ids"] for i in range(4)])
    with torch.no_grad():
        assert torch.equal(exported(input_ids=ids).logits, trained_model(input_ids=ids).logits)
    tokenizer = AutoTokenizer.from_pretrained(out / "export")
    assert tokenizer_fingerprint(tokenizer) == ds.tokenizer_fingerprint


def test_bits_per_byte_api_matches_the_in_loop_eval(trained: dict, eval_sets: dict[str, list[str]]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from curation.train.evaluate import bits_per_byte

    export = trained["out"] / "export"
    model = AutoModelForCausalLM.from_pretrained(export)
    bpb = bits_per_byte(
        model, AutoTokenizer.from_pretrained(export), eval_sets["pt"], seq_len=SEQ_LEN, max_bytes=30_000
    )
    assert bpb == pytest.approx(trained["summary"]["eval_bpb_after"]["pt"], rel=1e-5)


def test_continue_from_an_exported_model(trained: dict, packed: Path, tmp_path: Path) -> None:
    """The export is a pretrained model for the next run (what CPT from a hub checkpoint does)."""
    cfg = tiny_config(
        packed,
        tmp_path,
        max_steps=3,
        model={"name_or_path": str(trained["out"] / "export")},
        schedule={"kind": "continue", "lr": 3e-4, "min_lr": 3e-5, "warmup_steps": 0},
    )
    summary = train(cfg)
    assert summary["finished"] and summary["first_loss"] < trained["summary"]["first_loss"] - 0.5


def test_intra_document_mask_isolates_packed_documents(packed: Path) -> None:
    from curation.mixer.dataset import PackedDataset
    from curation.train.config import TINY_LLAMA
    from curation.train.model import new_model
    from curation.train.run import model_inputs

    ds = PackedDataset(packed)
    item = next(ds[i] for i in range(len(ds)) if int(ds[i]["doc_ids"].max()) >= 1)
    start = int((item["doc_ids"] == 1).nonzero()[0])
    end = int((item["doc_ids"] == 1).nonzero()[-1]) + 1
    model = new_model(TINY_LLAMA, ds.vocab_size, ds.eos_token_id, "sdpa").eval()
    batch = {k: v[None] for k, v in item.items()}
    alone = item["input_ids"][None, start:end]
    with torch.no_grad():
        reference = model(input_ids=alone).logits
        masked = model(**model_inputs(batch, "cpu", intra_doc_mask=True)).logits[:, start:end]
        unmasked = model(**model_inputs(batch, "cpu", intra_doc_mask=False)).logits[:, start:end]
    assert torch.allclose(masked, reference, atol=1e-5)
    assert not torch.allclose(
        unmasked, reference, atol=1e-3
    )  # without the mask it sees the previous document
    assert torch.equal(item["position_ids"][start:end], torch.arange(end - start))
