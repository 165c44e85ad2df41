"""Hugging Face export (safetensors + tokenizer, written atomically, local or on an object store), of the raw
weights and of their EMA; `curation export`, which exports any checkpoint of a run in one command; and the
optional lm-evaluation-harness run on an export."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

from pydantic import Field

from curation.core import io
from curation.core.config import StageConfig, read_yaml_mapping, validate
from curation.core.errors import CurationError
from curation.core.schema import CHECKPOINTS_DIR, CONFIG_FILE, EXPORT_DIR, RUN_DIR
from curation.core.stage import Run, Stage
from curation.train.distributed import DistContext, unwrap

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from curation.train.ema import EMA

EMA_EXPORT_DIR = f"{EXPORT_DIR}_ema"


def export_model(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, path: str, ctx: DistContext
) -> str:
    """``save_pretrained`` of the full (gathered) weights and the tokenizer; every rank calls this.

    Written to a temporary directory, then published (renamed locally, uploaded file by file to a store)."""
    import torch
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if ctx.is_main:
        if io.is_remote(path):
            tmp = tempfile.mkdtemp(prefix="curation-export-")
        else:  # beside the destination: published by a rename
            head, name = os.path.split(io.local_path(path).rstrip("/"))
            tmp = os.path.join(head, f"{io.TMP_MARK}{name}")
            shutil.rmtree(tmp, ignore_errors=True)
        inner = unwrap(model)
        inner.config.use_cache = True
        # gathered shards of tied weights are separate tensors: keep only the source, as an unsharded save does
        for target, source in (getattr(inner, "all_tied_weights_keys", None) or {}).items():
            if target in state and source in state and torch.equal(state[target], state[source]):
                del state[target]
        inner.save_pretrained(tmp, state_dict=state)
        tokenizer.save_pretrained(tmp)
        io.publish_dir(tmp, path)
    ctx.barrier()
    return path


def export_all(
    model: torch.nn.Module,
    ema: EMA | None,
    tokenizer: PreTrainedTokenizerBase,
    output: str,
    ctx: DistContext,
) -> dict[str, str]:
    """``<output>/export`` (the weights) and, with an EMA, ``<output>/export_ema`` (the averages)."""
    paths = {"export": export_model(model, tokenizer, io.join(output, EXPORT_DIR), ctx)}
    if ema is not None:
        with ema.swapped():
            paths["export_ema"] = export_model(model, tokenizer, io.join(output, EMA_EXPORT_DIR), ctx)
    return paths


class ExportConfig(StageConfig):
    """Export a checkpoint of a `curation train` run in Hugging Face format (and its EMA, if it has one)."""

    run: str = Field(description="The `curation train` output whose checkpoint is exported (path or URL).")
    step: int | None = Field(None, gt=0, description="Checkpoint step (default: the latest).")


class Export(Stage[ExportConfig]):
    """Export a checkpoint of a `curation train` run in Hugging Face format (export/, export_ema/)."""

    name = "export"
    config_model = ExportConfig

    def run(self, run: Run) -> dict[str, Any]:
        from curation.mixer.tokenizer import load_tokenizer
        from curation.train.checkpoint import find_checkpoint, load_checkpoint, read_state
        from curation.train.config import TrainConfig
        from curation.train.data import open_packed
        from curation.train.ema import EMA
        from curation.train.model import load_model

        cfg = self.cfg
        trained = validate(TrainConfig, read_yaml_mapping(io.join(cfg.run, RUN_DIR, CONFIG_FILE))["config"])
        root = io.join(cfg.run, CHECKPOINTS_DIR)
        path = find_checkpoint(root, cfg.step)
        if path is None:
            which = f"step {cfg.step}" if cfg.step else "any"
            raise CurationError(f"no complete checkpoint ({which}) under {root}")
        ds = open_packed(trained.data)
        model = load_model(trained.model, ds.vocab_size, ds.eos_token_id)
        ema = EMA(model, trained.ema_decay) if read_state(path).get("ema") else None
        ctx = DistContext()
        state = load_checkpoint(path, model, None, ema, ctx)
        paths = export_all(model, ema, load_tokenizer(ds.tokenizer_path), cfg.output, ctx)
        return {"run": cfg.run, "checkpoint": path, "step": state["step"], **paths}


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
