"""The GPU paths of `curation train` (skipped without CUDA): bf16 autocast with fused AdamW, torch.compile and
activation checkpointing; packed documents through the varlen, flex, SDPA and flash-attn kernels, attending only
to themselves; FSDP2 on NCCL with async sharded checkpoints and a resume; the 1B MFU benchmark at seq 4096.

    pytest -m gpu tests/train/test_gpu.py
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from curation.train.config import TINY_LLAMA
from tests.train.conftest import tiny_config, torchrun, train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
REPO = Path(__file__).resolve().parents[2]
ATTENTIONS = ["varlen", "flex_attention", "sdpa", "flash_attention_2"]


def test_bf16_fused_adamw_compile_and_activation_checkpointing(packed: Path, tmp_path: Path) -> None:
    from curation.core.config import validate
    from curation.train.config import TrainConfig
    from curation.train.distributed import DistContext, unwrap
    from curation.train.run import Trainer

    model = {"config": dict(TINY_LLAMA), "compile": True, "gradient_checkpointing": True}
    cfg = validate(TrainConfig, tiny_config(packed, tmp_path, max_steps=20, device="cuda", model=model))
    trainer = Trainer(cfg, DistContext(device="cuda"))
    assert trainer.autocast_dtype == torch.bfloat16 and trainer.optimizer.defaults["fused"] is True
    assert unwrap(trainer.wrapped).is_gradient_checkpointing and trainer.model is not trainer.wrapped
    summary = trainer.run()
    assert summary["mfu"] is not None and summary["final_loss"] < summary["first_loss"] - 0.5


@pytest.mark.parametrize("attn", ATTENTIONS)
def test_packed_documents_attend_only_to_themselves(packed: Path, tmp_path: Path, attn: str) -> None:
    """Document 1 of a packed row gives the logits it has alone (SDPA on the document by itself), within
    bf16 noise far below what attending to the row's previous document changes; then the kernel trains."""
    if attn == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        pytest.skip("flash-attn is not installed")
    from curation.mixer.dataset import PackedDataset
    from curation.train.model import VARLEN_KERNELS, new_model
    from curation.train.run import model_inputs

    ds = PackedDataset(packed)
    rows = [i for i in range(len(ds)) if int(ds[i]["doc_ids"].max()) >= 1][:2]
    batch = {k: torch.stack([ds[i][k] for i in rows]) for k in ("input_ids", "position_ids")}
    doc = (ds[rows[1]]["doc_ids"] == 1).nonzero().flatten()  # in the second row: no leak across rows
    start, end = int(doc[0]), int(doc[-1]) + 1
    torch.manual_seed(0)
    model = new_model(TINY_LLAMA, ds.vocab_size, ds.eos_token_id, attn).cuda().eval()
    reference = new_model(TINY_LLAMA, ds.vocab_size, ds.eos_token_id, "sdpa").cuda().eval()
    reference.load_state_dict(model.state_dict())
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        alone = reference(input_ids=batch["input_ids"][1:, start:end].cuda()).logits[0].float()
        masked = model(**model_inputs(batch, "cuda", True, attn in VARLEN_KERNELS)).logits[1, start:end]
        unmasked = model(**model_inputs(batch, "cuda", False)).logits[1, start:end]
    error = (masked.float() - alone).abs().max().item()
    leak = (unmasked.float() - alone).abs().max().item()
    assert error < 0.1 * leak, (error, leak)

    model_cfg = {"config": dict(TINY_LLAMA), "attn_implementation": attn}
    summary = train(tiny_config(packed, tmp_path, max_steps=8, device="cuda", model=model_cfg))
    assert math.isfinite(summary["final_loss"]) and summary["final_loss"] < summary["first_loss"]


def test_fsdp2_on_nccl_with_async_sharded_checkpoints(packed: Path, tmp_path: Path) -> None:
    """FSDP2 (bf16 params, fp32 reductions) on NCCL over the GPUs there are (1 or 2), varlen attention, EMA,
    async sharded checkpoints; stopped at step 3 and resumed, it follows the uninterrupted run."""
    nproc = min(torch.cuda.device_count(), 2)
    cfg = tiny_config(
        packed,
        tmp_path / "straight",
        max_steps=8,
        device="cuda",
        strategy="fsdp",
        micro_batch_size=1,
        checkpoint={"every_steps": 2},
        ema_decay=0.9,
        model={"config": dict(TINY_LLAMA), "attn_implementation": "varlen"},
    )
    straight = [r["loss"] for r in torchrun(cfg, tmp_path, nproc, gpu=True) if "loss" in r]
    cfg = {**cfg, "output": str(tmp_path / "resumed")}
    torchrun({**cfg, "stop_after_steps": 3}, tmp_path, nproc, gpu=True)
    resumed = [r["loss"] for r in torchrun({**cfg, "resume": True}, tmp_path, nproc, gpu=True) if "loss" in r]
    assert len(resumed) == 8 and resumed == pytest.approx(straight, rel=1e-3)
    last = tmp_path / "resumed" / "checkpoints" / "step_00000008"
    assert {".metadata", *(f"__{r}_0.distcp" for r in range(nproc))} <= {p.name for p in last.iterdir()}
    summary = json.loads((tmp_path / "resumed" / "_run" / "stats.json").read_text())["summary"]
    assert summary["world_size"] == nproc and summary["mfu"] is not None and summary["export_ema"]


def test_mfu_benchmark_runs_the_1b_llama_at_seq_4096(tmp_path: Path) -> None:
    """The benchmark's own path, briefly: figures come from full runs of benchmarks/train_mfu.py."""
    command = [sys.executable, "benchmarks/train_mfu.py", "--steps", "6", "--warmup-steps", "2"]
    command += ["--compile", "--intra-doc-mask", "--attn", "varlen", "--no-reference", "--out", str(tmp_path)]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1800, env=os.environ)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "train_mfu.json").read_text())
    assert result["seq_len"] == 4096 and result["params"] > 1e9 and 0 < result["ours_mfu"] < 1
