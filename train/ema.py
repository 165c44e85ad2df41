"""Exponential moving average of the model weights: after every optimiser step
``ema = decay * ema + (1 - decay) * weight``, for every trainable parameter.

The averages live beside the parameters they follow (same device, dtype and sharding: under FSDP2 each rank
averages its own shard), so an update is one fused ``lerp`` over local tensors and costs no communication.
They are saved in every checkpoint, evaluated next to the raw weights, and exported by swapping them into the
model for the duration (``with ema.swapped(): ...``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from curation.train.distributed import unwrap

if TYPE_CHECKING:
    import torch


def _local(t: torch.Tensor) -> torch.Tensor:
    """This rank's part of a tensor (the local shard of a DTensor, a view: writes go through)."""
    return t.to_local() if hasattr(t, "to_local") else t


class EMA:
    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        import torch

        self.decay = decay
        named = [(n, p) for n, p in unwrap(model).named_parameters() if p.requires_grad]
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        with torch.no_grad():
            self.shadow = [p.detach().clone() for p in self.params]

    def update(self) -> None:
        import torch

        with torch.no_grad():
            torch._foreach_lerp_(
                [_local(s) for s in self.shadow], [_local(p) for p in self.params], 1.0 - self.decay
            )

    def reset(self) -> None:
        """Start the average at the current weights (a checkpoint without one was loaded)."""
        import torch

        with torch.no_grad():
            torch._foreach_copy_([_local(s) for s in self.shadow], [_local(p) for p in self.params])

    def state_dict(self, full: bool = False) -> dict[str, torch.Tensor]:
        """Averages by parameter name: the live (possibly sharded) tensors, or whole ones on the CPU
        (``full``: a collective under FSDP2, every rank calls it)."""
        if not full:
            return dict(zip(self.names, self.shadow, strict=True))
        return {
            n: (s.full_tensor() if hasattr(s, "full_tensor") else s).detach().cpu()
            for n, s in zip(self.names, self.shadow, strict=True)
        }

    def load_full(self, state: dict[str, torch.Tensor]) -> None:
        """Copy whole averages (from a full checkpoint) into the live ones, sharding them where needed."""
        import torch

        with torch.no_grad():
            for name, s in zip(self.names, self.shadow, strict=True):
                value = state[name].to(device=_local(s).device, dtype=s.dtype)
                if hasattr(s, "device_mesh"):
                    from torch.distributed.tensor import distribute_tensor

                    value = distribute_tensor(value, s.device_mesh, s.placements)
                _local(s).copy_(_local(value))

    @contextmanager
    def swapped(self) -> Iterator[Any]:
        """The model holds the averages inside the block and its own weights again after it."""
        self._swap()
        try:
            yield self
        finally:
            self._swap()

    def _swap(self) -> None:
        import torch

        with torch.no_grad():
            for s, p in zip(self.shadow, self.params, strict=True):
                held = _local(p).clone()
                _local(p).copy_(_local(s))
                _local(s).copy_(held)
