"""Final export in Hugging Face format (safetensors + tokenizer), written atomically, and the optional
lm-evaluation-harness run on it."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curation.train.distributed import DistContext, unwrap

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase


def export_model(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, path: str | os.PathLike[str], ctx: DistContext
) -> Path:
    """``save_pretrained`` of the full (gathered) weights and the tokenizer; every rank calls this."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    path = Path(path)
    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if ctx.is_main:
        tmp = path.with_name(f".tmp-{path.name}")
        shutil.rmtree(tmp, ignore_errors=True)
        inner = unwrap(model)
        inner.config.use_cache = True
        inner.save_pretrained(tmp, state_dict=state)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    ctx.barrier()
    return path


def lm_eval_available() -> bool:
    return importlib.util.find_spec("lm_eval") is not None


def run_lm_eval(
    export_dir: str | os.PathLike[str], tasks: list[str], limit: int | None, device: str
) -> dict[str, Any]:
    """lm-evaluation-harness tasks on the exported model: ``{"results": ...}`` or ``{"skipped": reason}``."""
    if not lm_eval_available():
        return {"skipped": "lm-eval is not installed (pip install lm-eval)"}
    import lm_eval

    results = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={export_dir}", tasks=tasks, limit=limit, device=device
    )
    return {"results": (results or {}).get("results", {})}
