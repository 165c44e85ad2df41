"""Turn weights into exact sequence counts per phase and source, under each source's repetition cap.

Allocation is in whole sequences (``seq_len`` tokens, one source each), so every token count in the
manifest is a multiple of ``seq_len`` and all of them add up exactly to the planned total.
"""

from __future__ import annotations

from dataclasses import dataclass

from curation.core.errors import CurationError
from curation.mixer.schedule import largest_remainder


@dataclass(frozen=True)
class SourceCapacity:
    name: str
    available_tokens: int
    max_epochs: float

    def max_sequences(self, seq_len: int) -> int:
        return int(self.max_epochs * self.available_tokens) // seq_len


def _shortfall(cap: SourceCapacity, sequences: int, seq_len: int) -> CurationError:
    need = sequences * seq_len
    have = int(cap.max_epochs * cap.available_tokens)
    return CurationError(
        f"source '{cap.name}' is too small: needs {need:,} tokens but has {cap.available_tokens:,} "
        f"x max_epochs {cap.max_epochs:g} = {have:,} (short by {need - have:,}); "
        "lower its weight, raise max_epochs, or set allow_renormalize: true"
    )


def _fill_phase(total: int, weights: dict[str, float], fixed: dict[str, int], phase: str) -> dict[str, int]:
    remaining = total - sum(fixed.values())
    free = {name: w for name, w in weights.items() if name not in fixed and w > 0}
    if remaining > 0 and not free:
        raise CurationError(f"phase '{phase}': every source is at its repetition cap; lower total_tokens")
    parts = largest_remainder(remaining, list(free.values())) if free else []
    alloc = dict(zip(free, parts, strict=True))
    return {name: fixed.get(name, alloc.get(name, 0)) for name in weights}


def allocate(
    phase_sequences: dict[str, int],
    phase_weights: dict[str, dict[str, float]],
    capacities: dict[str, SourceCapacity],
    seq_len: int,
    renormalize: bool,
) -> dict[str, dict[str, int]]:
    """Sequences per phase and source. A source over its cap is an error, or (``renormalize``) is held at
    its cap (spread over phases in proportion to its planned use) while the others share the rest by weight.
    """
    fixed: dict[str, dict[str, int]] = {phase: {} for phase in phase_sequences}
    while True:
        alloc = {
            phase: _fill_phase(n, phase_weights[phase], fixed[phase], phase)
            for phase, n in phase_sequences.items()
        }
        over = []
        for name, cap in capacities.items():
            planned = sum(alloc[phase][name] for phase in alloc)
            if planned > cap.max_sequences(seq_len):
                if not renormalize:
                    raise _shortfall(cap, planned, seq_len)
                over.append(name)
        if not over:
            return alloc
        for name in over:
            use = [alloc[phase][name] for phase in alloc]
            held = largest_remainder(capacities[name].max_sequences(seq_len), use)
            for phase, n in zip(alloc, held, strict=True):
                fixed[phase][name] = n
