"""Optional paths of the loop: activation checkpointing, the lm-eval hook, FLOPs/MFU arithmetic, bpb units."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from curation.train.config import TINY_LLAMA
from curation.train.export import lm_eval_available
from tests.train.conftest import losses, tiny_config, train


def test_activation_checkpointing_gives_the_same_losses(packed: Path, tmp_path: Path) -> None:
    train(tiny_config(packed, tmp_path / "plain", max_steps=4))
    cfg = tiny_config(packed, tmp_path / "gc", max_steps=4)
    cfg["model"] = {**cfg["model"], "gradient_checkpointing": True}
    train(cfg)
    plain = losses(tmp_path / "plain")
    assert len(plain) == 4
    assert losses(tmp_path / "gc") == pytest.approx(plain, abs=1e-5)


@pytest.mark.skipif(lm_eval_available(), reason="checks the skip path; lm-eval is installed here")
def test_lm_eval_tasks_skip_cleanly_without_the_package(packed: Path, tmp_path: Path) -> None:
    summary = train(tiny_config(packed, tmp_path, max_steps=1, eval={"lm_eval_tasks": ["hellaswag"]}))
    assert summary["finished"] and "not installed" in summary["lm_eval"]["skipped"]


def test_flops_per_token_counts_matmul_params_and_attention() -> None:
    from curation.train.metrics import mfu, model_flops_per_token
    from curation.train.model import new_model

    model = new_model(TINY_LLAMA, 512, 0, "sdpa")
    h, layers, inter, vocab, seq = 64, 2, 256, 512, 64
    per_layer = 4 * h * h + 3 * h * inter + 2 * h  # q,k,v,o + gate,up,down + 2 RMSNorm weights
    matmul = layers * per_layer + h + vocab * h  # + final norm + tied LM head
    assert model_flops_per_token(model, seq) == 6 * matmul + 12 * layers * h * seq
    assert mfu(1e6, 1e6, 1.0, 2) == pytest.approx(0.5)  # 1e12 FLOP/s achieved on 2 x 1 TFLOP/s
    assert mfu(1e6, 1e6, None, 1) is None


def test_bits_per_byte_is_nats_over_ln2_bytes(packed: Path) -> None:
    """For one short text the eval equals the model's own mean loss x tokens / (ln 2 x bytes)."""
    from curation.mixer.tokenizer import load_tokenizer
    from curation.train.evaluate import bits_per_byte
    from curation.train.model import new_model

    tokenizer = load_tokenizer(packed / "tokenizer")
    model = new_model(TINY_LLAMA, len(tokenizer), tokenizer.eos_token_id, "sdpa").eval()
    text = "Não é fácil dizer o que a senhora sentiu; mas foi alguma coisa nova."
    ids = torch.tensor([[tokenizer.eos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]])
    with torch.no_grad():
        mean_nats = model(input_ids=ids, labels=ids).loss.item()
    expected = mean_nats * (ids.shape[1] - 1) / (math.log(2) * len(text.encode("utf-8")))
    assert bits_per_byte(model, tokenizer, [text], seq_len=64) == pytest.approx(expected, rel=1e-5)


def test_varlen_lengths_follow_the_packed_documents(packed: Path) -> None:
    """The varlen kernel's cumulative lengths (taken on the host) are the documents of the flattened batch;
    the kernel itself needs CUDA (tests/train/test_gpu.py)."""
    from curation.mixer.dataset import PackedDataset
    from curation.train.model import document_lengths

    ds = PackedDataset(packed)
    split = [ds[i] for i in range(len(ds)) if int(ds[i]["doc_ids"].max()) >= 1][:8]
    rows = split + [ds[i] for i in range(4)]  # rows with document boundaries, and rows of one document
    lengths = document_lengths(torch.stack([r["position_ids"] for r in rows]))
    expected = [int(n) for r in rows for n in torch.bincount(r["doc_ids"]) if n]
    assert lengths["cu_seq_lens_q"].diff().tolist() == expected and len(expected) > len(rows)
    assert lengths["max_length_q"] == max(expected) and lengths["cu_seq_lens_q"].dtype == torch.int32


def test_varlen_attention_is_sdpa_on_unpacked_batches_and_needs_a_gpu_to_train(
    packed: Path, tmp_path: Path
) -> None:
    """Eval windows (a padding mask or none) go through SDPA; packed training needs the CUDA kernel."""
    from curation.core.errors import CurationError
    from curation.train.model import new_model

    sdpa = new_model(TINY_LLAMA, 512, 0, "sdpa").eval()
    varlen = new_model(TINY_LLAMA, 512, 0, "varlen").eval()
    varlen.load_state_dict(sdpa.state_dict())
    ids = torch.randint(1, 512, (2, 40))
    mask = torch.ones_like(ids)
    mask[1, 25:] = 0
    with torch.no_grad():
        for kwargs in ({}, {"attention_mask": mask}):
            a, b = sdpa(input_ids=ids, **kwargs).logits, varlen(input_ids=ids, **kwargs).logits
            assert torch.allclose(a[mask.bool()], b[mask.bool()], atol=1e-5)
    model = {"config": dict(TINY_LLAMA), "attn_implementation": "varlen"}
    with pytest.raises(CurationError, match="needs a CUDA GPU"):
        train(tiny_config(packed, tmp_path, model=model))
