"""Load the causal LM to train (pretrained via AutoModelForCausalLM, or new from config keys) and check
that it fits the packed data: same tokenizer, enough positions, enough embedding rows."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from curation.core.errors import CurationError
from curation.train.config import ModelConfig

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast


def new_model(keys: dict[str, Any], vocab_size: int, eos_token_id: int, attn: str) -> PreTrainedModel:
    """A randomly initialised model from config keys (``model_type`` defaults to ``llama``)."""
    from transformers import AutoConfig, AutoModelForCausalLM

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
