"""`curation train` configuration: every key is also a CLI flag; the resolved config is saved with the run.

Example ``train.yaml`` (continue a pretrained model on a packed pt + en-replay mixture)::

    data: mix/packed                   # `curation pack` output
    output: runs/cpt-pt
    model: {name_or_path: models/base}  # or {config: {hidden_size: 64, ...}} for a new model
    max_steps: 2000
    global_batch_tokens: 524288        # = seq_len x micro_batch_size x accumulation x ranks
    micro_batch_size: 8
    schedule: {kind: wsd, lr: 3.0e-4, min_lr: 3.0e-5, warmup_steps: 100, decay_steps: 400}
    checkpoint: {every_steps: 200}
    eval: {every_steps: 100, sets: {pt: [heldout/pt/*.txt], en: [heldout/en.jsonl.gz]}}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from curation.build.config import load_model_config
from train.schedule import ScheduleConfig

# A new 2-layer, hidden-64 Llama: trains in milliseconds per step on one CPU core (tests and the demo).
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


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name_or_path: str | None = None  # local directory or hub id (AutoModelForCausalLM)
    config: dict[str, Any] | None = (
        None  # or a new model from these config keys (``model_type`` defaults to llama)
    )
    attn_implementation: str = "sdpa"
    gradient_checkpointing: bool = False
    compile: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        if (self.name_or_path is None) == (self.config is None):
            raise ValueError(
                "give exactly one of model.name_or_path (pretrained) or model.config (new model)"
            )
        return self


class OptimizerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.95, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    grad_clip: float = Field(1.0, ge=0)  # max global grad norm; 0 disables clipping


class CheckpointConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    every_steps: int = Field(0, ge=0)  # 0: only at the end (and at stop_after_steps)
    keep_last: int = Field(2, ge=1)
    final: bool = True  # also checkpoint at the end of the job (needed to resume after stop_after_steps)


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sets: dict[str, list[str]] = Field(default_factory=dict)  # name -> text files / JSONL / dirs / globs
    every_steps: int = Field(0, ge=0)  # 0: only before and after training
    max_bytes_per_set: int = Field(200_000, gt=0)
    batch_size: int = Field(8, gt=0)
    lm_eval_tasks: list[str] = Field(default_factory=list)  # run on the export if lm-eval is installed
    lm_eval_limit: int | None = None


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: str  # a `curation pack` output directory
    output: str
    model: ModelConfig
    max_steps: int = Field(gt=0)
    stop_after_steps: int | None = Field(None, gt=0)  # end this job early (checkpointed); --resume goes on
    global_batch_tokens: int = Field(gt=0)
    micro_batch_size: int = Field(8, gt=0)  # sequences per rank per forward pass
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    intra_doc_mask: bool = True  # attend only within each packed document
    resume: bool = False
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 autocast on GPU, fp32 on CPU
    strategy: Literal["auto", "ddp", "fsdp"] = "auto"  # under torchrun; auto = ddp
    peak_tflops: float | None = None  # for MFU; default 989 (H100 dense bf16) on CUDA, none on CPU
    log_every_steps: int = Field(1, gt=0)
    num_workers: int = Field(0, ge=0)
    export: bool = True


def load_train_config(config_path: str | None, overrides: dict[str, Any]) -> TrainConfig:
    """YAML file + flag overrides (or a plain dict as overrides) -> validated config; errors name the key."""
    return load_model_config(TrainConfig, config_path, overrides)
