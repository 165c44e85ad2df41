"""Load the causal LM to train (pretrained via AutoModelForCausalLM, or new from config keys) and check
that it fits the packed data: same tokenizer, enough positions, enough embedding rows.

``attn_implementation: varlen`` registers, with transformers, PyTorch's own variable-length flash attention
(``torch.nn.attention.varlen``, CUDA): every packed document attends only to itself and no mask is
materialised, with no extra package (``flash_attention_2`` does the same through the flash-attn package)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from curation.core.errors import CurationError
from curation.train.config import ModelConfig

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

VARLEN = "varlen"
VARLEN_KERNELS = (VARLEN, "flash_attention_2", "flash_attention_3")  # they take the documents' cu_seqlens


def varlen_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers attention function: packed documents (``cu_seq_lens_q``, from :func:`document_lengths`)
    through the varlen kernel, causal within each document; other batches (eval windows, with a padding mask
    or none) through SDPA. ``query`` is [batch, heads, seq, dim]; returns [batch, seq, heads, dim]."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    cu_seqlens = kwargs.get("cu_seq_lens_q")
    if cu_seqlens is None:
        mask = attention_mask
        if mask is not None:  # 2-D padding mask -> causal and padding
            causal = torch.ones(query.shape[2], key.shape[2], dtype=torch.bool, device=query.device).tril()
            mask = causal[None, None] & mask[:, None, None, :].bool()
        return sdpa_attention_forward(module, query, key, value, mask, dropout=dropout, scaling=scaling)
    from torch.nn.attention.varlen import varlen_attn

    batch, heads, seq, dim = query.shape
    kv_heads = key.shape[1]
    out = varlen_attn(
        query.transpose(1, 2).reshape(batch * seq, heads, dim),
        key.transpose(1, 2).reshape(batch * seq, kv_heads, dim),
        value.transpose(1, 2).reshape(batch * seq, kv_heads, dim),
        cu_seqlens,
        cu_seqlens,
        kwargs["max_length_q"],
        kwargs["max_length_q"],
        scale=scaling,
        window_size=(-1, 0),  # causal
        enable_gqa=kv_heads != heads,
    )
    return out.view(batch, seq, heads, dim), None


def document_lengths(position_ids: torch.Tensor) -> dict[str, Any]:
    """Varlen kwargs of a packed batch (on the host, before it moves: no device sync): the cumulative
    lengths of its documents over the flattened batch (a document starts where its position is 0; every
    row starts at 0) and the longest one."""
    import torch

    flat = position_ids.reshape(-1)
    starts = torch.cat([(flat == 0).nonzero().flatten(), torch.tensor([flat.numel()])]).to(torch.int32)
    longest = int(starts.diff().max())
    return {
        "cu_seq_lens_q": starts,
        "cu_seq_lens_k": starts,
        "max_length_q": longest,
        "max_length_k": longest,
    }


def register_varlen_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, flash_attention_mask

    AttentionInterface.register(VARLEN, varlen_attention)
    AttentionMaskInterface.register(VARLEN, flash_attention_mask)  # no 4-D mask is built for it


def new_model(keys: dict[str, Any], vocab_size: int, eos_token_id: int, attn: str) -> PreTrainedModel:
    """A randomly initialised model from config keys (``model_type`` defaults to ``llama``)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if attn == VARLEN:
        register_varlen_attention()
    keys = dict(keys)
    model_type = keys.pop("model_type", "llama")
    keys.setdefault("vocab_size", vocab_size)
    keys.setdefault("eos_token_id", eos_token_id)
    keys.setdefault("bos_token_id", eos_token_id)
    try:
        config = AutoConfig.for_model(model_type, **keys)
    except (ValueError, TypeError) as exc:
        raise CurationError(f"invalid model.config: {exc}") from None
    return AutoModelForCausalLM.from_config(config, attn_implementation=attn)


def pretrained_model(name_or_path: str, attn: str) -> PreTrainedModel:
    import torch
    from transformers import AutoModelForCausalLM

    if attn == VARLEN:
        register_varlen_attention()
    if os.path.isabs(name_or_path) or name_or_path.startswith(".") or os.path.exists(name_or_path):
        if not os.path.isdir(name_or_path):
            raise CurationError(f"model.name_or_path not found: {name_or_path}")
    try:
        return AutoModelForCausalLM.from_pretrained(
            name_or_path, attn_implementation=attn, dtype=torch.float32
        )
    except OSError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CurationError(f"cannot load model.name_or_path '{name_or_path}': {first_line}") from None


def load_model(cfg: ModelConfig, vocab_size: int, eos_token_id: int) -> PreTrainedModel:
    """The model in fp32 (master weights); bf16 comes from autocast or the FSDP mixed-precision policy."""
    if cfg.config is not None:
        return new_model(cfg.config, vocab_size, eos_token_id, cfg.attn_implementation)
    assert cfg.name_or_path is not None
    return pretrained_model(cfg.name_or_path, cfg.attn_implementation)


def enable_activation_checkpointing(model: PreTrainedModel) -> None:
    """Recompute each layer's activations in backward (``activation_checkpointing_enable`` from transformers 5)."""
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()


def model_tokenizer(name_or_path: str) -> PreTrainedTokenizerFast | None:
    """The tokenizer saved with a pretrained model, or None when it has none."""
    from curation.mixer.tokenizer import load_tokenizer

    if os.path.isdir(name_or_path) and not any(f.startswith("tokenizer") for f in os.listdir(name_or_path)):
        return None
    try:
        return load_tokenizer(name_or_path)
    except (OSError, ValueError, CurationError):
        return None


def check_compatible(
    model: PreTrainedModel, cfg: ModelConfig, seq_len: int, vocab_size: int, fingerprint: str
) -> None:
    """Refuse (one-line CurationError) a model that cannot train on this packed data."""
    from curation.mixer.tokenizer import tokenizer_fingerprint

    max_positions = getattr(model.config, "max_position_embeddings", None)
    if max_positions is not None and seq_len > max_positions:
        raise CurationError(
            f"packed seq_len {seq_len} exceeds the model's max_position_embeddings {max_positions}"
        )
    rows = model.get_input_embeddings().weight.shape[0]
    if rows < vocab_size:
        raise CurationError(
            f"model has {rows} token embeddings but the packed data's vocab_size is {vocab_size}"
        )
    if cfg.name_or_path is None:
        return
    from curation.train.embeddings import extension_hint

    tokenizer = model_tokenizer(cfg.name_or_path)
    if tokenizer is not None and tokenizer_fingerprint(tokenizer) != fingerprint:
        raise CurationError(
            f"wrong tokenizer: the tokenizer of model '{cfg.name_or_path}' differs from the one the data was "
            f"packed with (pack.json tokenizer_fingerprint {fingerprint[:12]}...)"
            + extension_hint(cfg.name_or_path, fingerprint)
        )
