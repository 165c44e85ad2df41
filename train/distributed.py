"""Process-group set-up under ``torchrun`` (NCCL on GPU, gloo on CPU) and model wrapping: DDP, or FSDP2
(``torch.distributed.fsdp.fully_shard``, one unit per decoder layer, bf16 params with fp32 reductions).

A process started by ``torchrun`` joins a process group even when it is the only rank, so FSDP2 and its
sharded checkpoints run on a single GPU too; a plain ``curation train`` is one process without a group."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"
    distributed: bool = False  # in a process group (started by torchrun)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as tdist

            tdist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over all ranks (identity on one process)."""
        if not self.distributed:
            return list(values)
        import torch
        import torch.distributed as tdist

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        tdist.all_reduce(t)
        return t.tolist()


def resolve_device(preference: str) -> str:
    import torch

    if preference == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if preference == "cuda" and not torch.cuda.is_available():
        from curation.core.errors import CurationError

        raise CurationError("device 'cuda' requested but no CUDA GPU is available")
    return preference


def setup_distributed(device_preference: str) -> DistContext:
    """Join the process group when started by torchrun (``RANK`` is set); otherwise a single process."""
    import torch

    device = resolve_device(device_preference)
    if "RANK" not in os.environ:
        return DistContext(device=device)
    import torch.distributed as tdist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    if not tdist.is_initialized():
        tdist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return DistContext(
        rank=tdist.get_rank(),
        world_size=tdist.get_world_size(),
        local_rank=local_rank,
        device=device,
        distributed=True,
    )


def teardown_distributed(ctx: DistContext) -> None:
    if ctx.distributed:
        import torch.distributed as tdist

        if tdist.is_initialized():
            tdist.destroy_process_group()


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The repeated transformer blocks (``model.model.layers`` for Llama-like models)."""
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None:
        from curation.core.errors import CurationError

        raise CurationError(f"FSDP needs a model with .model.layers; {type(model).__name__} has none")
    return list(layers)


def wrap_model(model: torch.nn.Module, strategy: str, ctx: DistContext, bf16: bool) -> torch.nn.Module:
    """DDP (``auto``/``ddp``) or FSDP2 (``fsdp``) across ranks; the plain model on one process."""
    if not ctx.distributed:
        return model
    import torch

    if strategy == "fsdp":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        kwargs: dict[str, Any] = {}
        if bf16:
            kwargs["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        for layer in decoder_layers(model):
            fully_shard(layer, **kwargs)
        fully_shard(model, **kwargs)
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [ctx.local_rank] if ctx.device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=device_ids)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The underlying transformers model (DDP keeps it in ``.module``; torch.compile in ``._orig_mod``)."""
    for attr in ("_orig_mod", "module", "_orig_mod"):
        model = getattr(model, attr, model)
    return model
