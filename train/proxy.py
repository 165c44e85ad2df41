"""Proxy models for data ablations: named Llama-style sizes and a token budget rule.

A data ablation trains the same small model on each variant of a corpus at an equal number of tokens
(FineWeb, FineWeb-2 and DCLM do it with 100M-1.7B models). The names give the approximate number of
**non-embedding** parameters (the transformer blocks), which does not depend on the tokenizer; the budget
rule counts **all** parameters at the run's vocabulary (tied input/output embedding counted once), as
Chinchilla does:

    tokens = tokens_per_param x params          (default 20 tokens per parameter)

``1m`` and ``3m`` are CPU sizes for smoke runs and the demo: at 20 tokens per parameter even they want
tens of millions of tokens, so CPU runs give an explicit, smaller budget (``tokens:``). ``20m`` to
``400m`` are GPU sizes (head dimension 64, SwiGLU width about 8/3 of the hidden size, rounded to 64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from curation.core.errors import CurationError

CHINCHILLA_TOKENS_PER_PARAM = 20.0


@dataclass(frozen=True)
class Proxy:
    """One proxy size: its Llama shape and the training defaults that go with it."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    lr: float
    seq_len: int
    global_batch_tokens: int

    def model_config(self, max_positions: int) -> dict[str, Any]:
        """``model.config`` keys of `curation train` for this size."""
        return {
            "model_type": "llama",
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_heads,
            "max_position_embeddings": max_positions,
            "tie_word_embeddings": True,
        }

    def non_embedding_params(self) -> int:
        """Attention (q, k, v, o) and SwiGLU (gate, up, down) weights and the two RMSNorms per layer, and
        the final norm."""
        h, i = self.hidden_size, self.intermediate_size
        return self.num_layers * (4 * h * h + 3 * h * i + 2 * h) + h

    def params(self, vocab_size: int) -> int:
        """All parameters at ``vocab_size`` (one tied embedding matrix)."""
        return self.non_embedding_params() + vocab_size * self.hidden_size

    def tokens(self, vocab_size: int, tokens_per_param: float = CHINCHILLA_TOKENS_PER_PARAM) -> int:
        """The budget rule: ``tokens_per_param`` x all parameters."""
        return int(tokens_per_param * self.params(vocab_size))


PROXIES: dict[str, Proxy] = {
    "1m": Proxy(128, 4, 4, 384, lr=3e-3, seq_len=128, global_batch_tokens=2048),
    "3m": Proxy(256, 4, 4, 704, lr=3e-3, seq_len=256, global_batch_tokens=8192),
    "20m": Proxy(512, 6, 8, 1536, lr=2e-3, seq_len=2048, global_batch_tokens=131_072),
    "60m": Proxy(768, 8, 12, 2304, lr=1.5e-3, seq_len=2048, global_batch_tokens=262_144),
    "150m": Proxy(1024, 12, 16, 2816, lr=1e-3, seq_len=2048, global_batch_tokens=524_288),
    "400m": Proxy(1280, 20, 20, 3456, lr=6e-4, seq_len=2048, global_batch_tokens=524_288),
}


def proxy(name: str) -> Proxy:
    """The proxy named ``name`` (``1m``, ``3m``, ``20m``, ``60m``, ``150m``, ``400m``)."""
    if name not in PROXIES:
        raise CurationError(f"unknown proxy '{name}' (known: {', '.join(PROXIES)})")
    return PROXIES[name]
