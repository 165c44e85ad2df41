"""A causal LM to score: loaded from our export folder (or a `curation train` run folder) or any local
Hugging Face causal LM directory, and the log-likelihood of continuations given contexts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curation.core.errors import CurationError
from curation.core.schema import EXPORT_DIR
from curation.train.distributed import resolve_device
from curation.train.evaluate import next_token_logits

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase


def model_dir(path: str) -> str:
    """A model directory: ``path`` itself, or the export folder of a `curation train` run folder."""
    p = Path(path)
    if not (p / "config.json").is_file() and (p / EXPORT_DIR / "config.json").is_file():
        return str(p / EXPORT_DIR)
    if not p.is_dir():
        raise CurationError(f"model not found: {path}")
    return str(p)


@dataclass
class LoadedModel:
    model: Any
    tokenizer: PreTrainedTokenizerBase
    device: str
    autocast_dtype: torch.dtype | None
    max_positions: int | None


def load_scored_model(path: str, tokenizer: str | None, device: str, precision: str) -> LoadedModel:
    """The model in eval mode on ``device`` (``auto``: CUDA when present), with its tokenizer (its own, or
    ``tokenizer``); bf16 autocast on GPU unless ``precision`` is ``fp32``."""
    import torch

    from curation.mixer.tokenizer import load_tokenizer
    from curation.train.model import model_tokenizer, pretrained_model

    folder = model_dir(path)
    tok = load_tokenizer(tokenizer) if tokenizer else model_tokenizer(folder)
    if tok is None:
        raise CurationError(f"model {path} has no tokenizer files: give --tokenizer")
    device = resolve_device(device)
    model = pretrained_model(folder, "sdpa").to(device).eval()
    bf16 = precision == "bf16" or (precision == "auto" and device.startswith("cuda"))
    return LoadedModel(
        model,
        tok,
        device,
        torch.bfloat16 if bf16 else None,
        getattr(model.config, "max_position_embeddings", None),
    )


def encode_pair(tokenizer: PreTrainedTokenizerBase, context: str, continuation: str) -> tuple[list, list]:
    """Context and continuation ids as lm-evaluation-harness splits them: the continuation's ids are those
    of ``context + continuation`` after the context's (so merges across the boundary count)."""
    ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    if whole[: len(ctx)] == ctx and len(whole) > len(ctx):
        return ctx, whole[len(ctx) :]
    return ctx, tokenizer(continuation, add_special_tokens=False)["input_ids"]


def continuation_scores(
    lm: LoadedModel, pairs: list[tuple[str, str]], seq_len: int, batch_size: int
) -> list[tuple[float, bool]]:
    """Per (context, continuation): the continuation's log-likelihood in nats and whether each of its tokens
    is the greedy choice. Each row is EOS + context + continuation, cut from the left to ``seq_len + 1``
    tokens (the EOS is the context every packed document starts from)."""
    import torch

    eos = lm.tokenizer.eos_token_id
    rows, lengths = [], []
    for context, continuation in pairs:
        ctx, cont = encode_pair(lm.tokenizer, context, continuation)
        rows.append([eos, *ctx, *cont][-(seq_len + 1) :])
        lengths.append(min(len(cont), seq_len))
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))  # similar lengths share a batch
    out: list[tuple[float, bool]] = [(0.0, False)] * len(rows)
    with torch.no_grad():
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            ids, _, logits = next_token_logits(lm.model, [rows[i] for i in idx], lm.device, lm.autocast_dtype)
            for r, i in enumerate(idx):
                end, n = len(rows[i]) - 1, lengths[i]
                logp = logits[r, end - n : end].float().log_softmax(-1)
                target = ids[r, end - n + 1 : end + 1]
                ll = logp.gather(1, target[:, None]).sum().item()
                out[i] = (ll, bool((logp.argmax(-1) == target).all()))
    return out
