"""Bits per byte on held-out text: sum of token NLL in nats / (ln 2 * UTF-8 bytes), tokenizer-independent.

Each document is tokenised with the EOS token in front (the context a packed document starts from) and cut
into windows of ``seq_len`` predicted tokens; every text token is predicted exactly once.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from curation.core.errors import CurationError
from curation.core.io import expand_inputs, iter_jsonl
from curation.core.schema import TEXT

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

TEXT_SUFFIXES = (".txt", ".md")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz")


def _file_texts(path: str) -> Iterator[str]:
    if path.endswith(JSONL_SUFFIXES):
        for record in iter_jsonl(path):
            if record.get(TEXT):
                yield record[TEXT]
    elif path.endswith(TEXT_SUFFIXES):
        with open(path, encoding="utf-8", errors="replace") as f:
            yield f.read()


def load_texts(items: Sequence[str], max_bytes: int | None = None) -> list[str]:
    """Texts from strings or paths (a text file is one document; JSONL with a ``text`` field; dirs; globs)
    in sorted file order, cut to ``max_bytes`` UTF-8 bytes in total (the last document truncated)."""
    texts: list[str] = []
    total = 0
    paths = [p for p in items if os.path.exists(p) or any(ch in p for ch in "*?[")]
    literal = [t for t in items if t not in paths]
    if literal and paths:
        raise CurationError("eval set mixes file paths and literal texts; give one kind")
    files = expand_inputs(paths) if paths else []
    source: Iterable[str] = (t for f in files for t in _file_texts(f)) if files else literal
    for text in source:
        size = len(text.encode("utf-8"))
        if max_bytes is not None and total + size > max_bytes:
            text = text.encode("utf-8")[: max_bytes - total].decode("utf-8", errors="ignore")
            size = len(text.encode("utf-8"))
        if text.strip():
            texts.append(text)
            total += size
        if max_bytes is not None and total >= max_bytes:
            break
    if not texts:
        raise CurationError(f"eval set has no text: {', '.join(items)[:200]}")
    return texts


def _windows(texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, seq_len: int) -> list[list[int]]:
    """Token windows of up to ``seq_len + 1`` ids; a document's windows overlap by one token."""
    eos = tokenizer.eos_token_id
    windows = []
    for text in texts:
        ids = [eos, *tokenizer(text, add_special_tokens=False)["input_ids"]]
        for start in range(0, len(ids) - 1, seq_len):
            windows.append(ids[start : start + seq_len + 1])
    return windows


def nll_nats(
    model: torch.nn.Module,
    windows: Sequence[Sequence[int]],
    batch_size: int,
    device: str,
    autocast_dtype: torch.dtype | None = None,
) -> float:
    """Sum of next-token negative log-likelihoods (nats) over all windows."""
    import torch
    import torch.nn.functional as F

    total = 0.0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(windows), batch_size):
            ids, mask, logits = next_token_logits(model, windows[i : i + batch_size], device, autocast_dtype)
            targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
            total += F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="sum").item()
    model.train(was_training)
    return total


def next_token_logits(
    model: torch.nn.Module,
    rows: Sequence[Sequence[int]],
    device: str,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows of token ids right-padded into one batch: ``(ids, mask, logits)``, where ``logits[:, j]``
    predicts ``ids[:, j + 1]`` (call under ``torch.no_grad()``)."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    ids, mask = ids.to(device), mask.to(device)
    device_type = torch.device(device).type
    with torch.autocast(device_type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        logits = model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1]).logits
    return ids, mask, logits


def bits_per_byte(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts_or_paths: Sequence[str],
    seq_len: int = 512,
    batch_size: int = 8,
    max_bytes: int | None = None,
    device: str | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> float:
    """Bits per UTF-8 byte of ``model`` on texts (or files, see :func:`load_texts`)."""
    device = device or str(next(model.parameters()).device)
    evalset = EvalSets({"texts": texts_or_paths}, tokenizer, seq_len, max_bytes)
    return evalset.bits_per_byte(model, batch_size, device, autocast_dtype)["texts"]


class EvalSets:
    """Held-out sets tokenised once, evaluated every N steps (same windows each time)."""

    def __init__(
        self,
        sets: dict[str, Sequence[str]],
        tokenizer: PreTrainedTokenizerBase,
        seq_len: int,
        max_bytes: int | None,
    ) -> None:
        self.windows: dict[str, list[list[int]]] = {}
        self.bytes: dict[str, int] = {}
        for name, items in sets.items():
            texts = load_texts(items, max_bytes)
            self.windows[name] = _windows(texts, tokenizer, seq_len)
            self.bytes[name] = sum(len(t.encode("utf-8")) for t in texts)

    def __bool__(self) -> bool:
        return bool(self.windows)

    def bits_per_byte(
        self, model: torch.nn.Module, batch_size: int, device: str, autocast_dtype: torch.dtype | None = None
    ) -> dict[str, float]:
        return {
            name: nll_nats(model, windows, batch_size, device, autocast_dtype)
            / (math.log(2) * self.bytes[name])
            for name, windows in self.windows.items()
        }
