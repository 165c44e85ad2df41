"""`curation train` configuration: every key is also a flag (``--schedule.lr``, ``--model.name-or-path``).

Example ``train.yaml`` (continue a pretrained model on a packed pt + en-replay mixture)::

    data: mix/packed                   # `curation pack` output
    output: runs/cpt-pt
    model: {name_or_path: models/base}  # or {config: {hidden_size: 64, ...}} for a new model
    max_steps: 2000
    global_batch_tokens: 524288        # = seq_len x micro_batch_size x accumulation x ranks
    micro_batch_size: 8
    schedule: {kind: wsd, lr: 3.0e-4, min_lr: 3.0e-5, warmup_steps: 100, decay_steps: 400}
    checkpoint: {every_steps: 200, keep_last: 3}   # output may be a URL (s3://bucket/runs/cpt-pt)
    eval: {every_steps: 100, sets: {pt: [heldout/pt/*.txt], en: [heldout/en.jsonl.gz]}}
    ema_decay: 0.999                   # also evaluate and export an EMA of the weights

A cooldown branched from a checkpoint of that run's stable phase (one stable run, several cooldowns)::

    init_from: runs/cpt-pt/checkpoints/step_00001200
    output: runs/cpt-pt-cooldown-1200
    max_steps: 1400
    schedule: {kind: wsd, lr: 3.0e-4, min_lr: 3.0e-5, warmup_steps: 100, decay_steps: 200}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from curation.core.config import RUNTIME, StageConfig, StrictModel
from curation.train.schedule import ScheduleConfig

# A new 2-layer, hidden-64 Llama: trains in milliseconds per step on one CPU core (tests, smoke benchmarks).
TINY_LLAMA: dict[str, Any] = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 1024,
    "tie_word_embeddings": True,
}


class ModelConfig(StrictModel):
    name_or_path: str | None = Field(None, description="Pretrained model: local directory or hub id.")
    config: dict[str, Any] | None = Field(
        None,
        description="Or a new model from config keys: hidden_size=64 ... (model_type defaults to llama).",
    )
    attn_implementation: str = Field(
        "sdpa",
        description="sdpa, eager, flex_attention, flash_attention_2 (flash-attn package) or varlen "
        "(PyTorch's flash varlen kernel, CUDA).",
    )
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward.")
    compile: bool = Field(False, description="torch.compile the model.")

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        if (self.name_or_path is None) == (self.config is None):
            raise ValueError(
                "give exactly one of model.name_or_path (pretrained) or model.config (new model)"
            )
        return self


class OptimizerConfig(StrictModel):
    weight_decay: float = Field(0.1, ge=0, description="AdamW weight decay (not on biases and norms).")
    beta1: float = Field(0.9, ge=0, lt=1, description="AdamW beta1.")
    beta2: float = Field(0.95, ge=0, lt=1, description="AdamW beta2.")
    eps: float = Field(1e-8, gt=0, description="AdamW epsilon.")
    grad_clip: float = Field(1.0, ge=0, description="Max global gradient norm (0: off).")


class CheckpointConfig(StrictModel):
    every_steps: int = Field(0, ge=0, description="Checkpoint every N steps (0: only at the end).")
    keep_last: int = Field(2, ge=1, description="Checkpoints to keep.")
    final: bool = Field(True, description="Checkpoint at the end of the job (needed to resume it).")
    format: Literal["auto", "full", "sharded"] = Field(
        "auto",
        description="sharded: each rank writes its shards (torch.distributed.checkpoint); full: rank 0 "
        "writes whole state dicts; auto: sharded under FSDP, full otherwise.",
        json_schema_extra=RUNTIME,
    )
    async_save: bool = Field(
        True,
        description="Sharded checkpoints are written in the background while training goes on.",
        json_schema_extra=RUNTIME,
    )


class EvalConfig(StrictModel):
    sets: dict[str, list[str]] = Field(
        default_factory=dict, description="Held-out sets NAME=PATH (text files, JSONL, dirs, globs)."
    )
    every_steps: int = Field(
        0, ge=0, description="Held-out bits per byte every N steps (0: before and after)."
    )
    max_bytes_per_set: int = Field(200_000, gt=0, description="UTF-8 bytes of text per eval set.")
    batch_size: int = Field(8, gt=0, description="Windows per eval forward.")
    lm_eval_tasks: list[str] = Field(
        default_factory=list, description="lm-evaluation-harness tasks on the export."
    )
    lm_eval_limit: int | None = Field(None, description="Examples per lm-eval task.")


class EmbeddingWarmupConfig(StrictModel):
    """Vocabulary-adaptation warm-up: the first steps train only the token embeddings (and LM head)."""

    steps: int = Field(0, ge=0, description="Steps that train only embeddings and head (0: off).")
    scope: Literal["new_rows", "embeddings"] = Field(
        "new_rows",
        description="new_rows: only the rows `curation vocab extend` added; embeddings: all their rows.",
    )


class TrainConfig(StageConfig):
    """Continued pretraining of a causal LM on packed data (torchrun for many GPUs)."""

    data: str = Field(description="Packed data directory (`curation pack` output).")
    model: ModelConfig
    max_steps: int = Field(gt=0, description="Optimiser steps of the whole run.")
    stop_after_steps: int | None = Field(
        None,
        gt=0,
        description="End this job at this step (checkpointed; --resume goes on).",
        json_schema_extra=RUNTIME,
    )
    global_batch_tokens: int = Field(gt=0, description="Tokens per optimiser step.")
    micro_batch_size: int = Field(8, gt=0, description="Sequences per rank per forward pass.")
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    intra_doc_mask: bool = Field(True, description="Attend only within each packed document.")
    resume: bool = Field(False, description="Continue from the latest checkpoint.", json_schema_extra=RUNTIME)
    init_from: str | None = Field(
        None,
        description="Start from a checkpoint of another run (weights, optimiser, EMA, step, data position), "
        "e.g. a cooldown from the stable phase of a WSD run.",
    )
    ema_decay: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Keep an EMA of the weights with this decay per step (0: off); evaluated and exported.",
    )
    seed: int = Field(0, description="Random seed.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto, cpu or cuda.", json_schema_extra=RUNTIME
    )
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="auto: bf16 autocast on GPU, fp32 on CPU."
    )
    strategy: Literal["auto", "ddp", "fsdp"] = Field(
        "auto", description="Under torchrun: auto (ddp), ddp or fsdp."
    )
    peak_tflops: float | None = Field(
        None,
        description="Per-device peak for MFU (default 989, H100 bf16, on CUDA).",
        json_schema_extra=RUNTIME,
    )
    log_every_steps: int = Field(
        1, gt=0, description="Metrics line every N steps.", json_schema_extra=RUNTIME
    )
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes.", json_schema_extra=RUNTIME)
    export: bool = Field(True, description="save_pretrained at the end.")
    embedding_warmup: EmbeddingWarmupConfig = Field(default_factory=EmbeddingWarmupConfig)
