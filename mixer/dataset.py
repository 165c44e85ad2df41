"""The PyTorch dataset over packed shards (``curation pack`` output): O(1) random access via memmaps.

Layout of a packed directory (see ``pack.json``): per shard ``<stem>.tokens.npy`` ``[n, seq_len]`` token ids,
``<stem>.sources.npy`` ``[n]`` source ids, and the document starts inside each sequence as CSR arrays
``<stem>.doc_starts.npy`` (positions > 0 where a new document begins) and ``<stem>.doc_index.npy``
``[n + 1]``. Importing this module imports torch; the packer does not need it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from curation.core.errors import CurationError
from curation.core.schema import PACK_FORMAT_VERSION, PACK_INFO_FILE, PACK_SHARD_ARRAYS, PACK_TOKENIZER_DIR


def segment_ids(seq_len: int, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Document index (0, 1, 2...) and position (restarting at 0) of every token, from document starts."""
    flags = np.zeros(seq_len, dtype=np.int64)
    flags[starts] = 1
    doc_ids = np.cumsum(flags)
    seg_start = np.concatenate(([0], starts.astype(np.int64)))
    return doc_ids, np.arange(seq_len, dtype=np.int64) - seg_start[doc_ids]


class PackedDataset(Dataset):
    """Map-style dataset: ``ds[i]`` is sequence ``i`` as torch.long tensors.

    Items: ``input_ids`` [seq_len], ``position_ids`` [seq_len] (0 at every document start), ``doc_ids``
    [seq_len] (index of the document within the sequence) and ``source`` (0-d, index into ``sources``).
    Memmaps open lazily, so the object pickles cheaply into DataLoader workers.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        info_path = self.path / PACK_INFO_FILE
        if not info_path.is_file():
            raise CurationError(f"not a packed directory (no {PACK_INFO_FILE}): {self.path}")
        self.info: dict[str, Any] = json.loads(info_path.read_text())
        if self.info.get("format_version") != PACK_FORMAT_VERSION:
            raise CurationError(
                f"unsupported pack format_version {self.info.get('format_version')}: {info_path}"
            )
        self.seq_len: int = int(self.info["seq_len"])
        self.vocab_size: int = int(self.info["vocab_size"])
        self.eos_token_id: int = int(self.info["eos_token_id"])
        self.tokenizer_fingerprint: str = self.info["tokenizer_fingerprint"]
        self.sources: list[str] = list(self.info["sources"])
        self.tokenizer_path = self.path / PACK_TOKENIZER_DIR
        counts = [int(s["num_sequences"]) for s in self.info["shards"]]
        self._offsets = np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))
        self._arrays: dict[int, dict[str, np.ndarray]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arrays": {}}

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def _shard(self, k: int) -> dict[str, np.ndarray]:
        if k not in self._arrays:
            entry = self.info["shards"][k]
            self._arrays[k] = {
                key: np.load(self.path / entry[key], mmap_mode="r") for key in PACK_SHARD_ARRAYS
            }
        return self._arrays[k]

    def locate(self, index: int) -> tuple[int, int]:
        """(shard number, row within shard) of a global sequence index."""
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"sequence {index} out of range for {len(self)} sequences")
        k = int(np.searchsorted(self._offsets, index, side="right")) - 1
        return k, index - int(self._offsets[k])

    def __getitem__(self, index: int) -> dict[str, Any]:
        k, row = self.locate(int(index))
        arrays = self._shard(k)
        lo, hi = int(arrays["doc_index"][row]), int(arrays["doc_index"][row + 1])
        doc_ids, position_ids = segment_ids(self.seq_len, np.asarray(arrays["doc_starts"][lo:hi]))
        return {
            "input_ids": torch.from_numpy(np.asarray(arrays["tokens"][row], dtype=np.int64)),
            "position_ids": torch.from_numpy(position_ids),
            "doc_ids": torch.from_numpy(doc_ids),
            "source": torch.tensor(int(arrays["sources"][row]), dtype=torch.long),
        }

    def shard(self, rank: int, world_size: int, start: int = 0) -> PackedDatasetView:
        """View whose item j is global sequence ``start + j * world_size + rank``.

        Resuming from a global sequence index is O(1) and data-parallel ranks are disjoint.
        """
        return PackedDatasetView(self, rank, world_size, start)


class PackedDatasetView(Dataset):
    """A strided window of a PackedDataset for one data-parallel rank, starting at a global sequence."""

    def __init__(self, base: PackedDataset, rank: int, world_size: int, start: int = 0) -> None:
        if world_size < 1 or not 0 <= rank < world_size or start < 0:
            raise ValueError(f"bad shard: rank={rank} world_size={world_size} start={start}")
        self.base, self.rank, self.world_size, self.start = base, rank, world_size, start
        for name in ("seq_len", "vocab_size", "eos_token_id", "tokenizer_fingerprint", "sources", "info"):
            setattr(self, name, getattr(base, name))
        self.tokenizer_path = base.tokenizer_path

    def __len__(self) -> int:
        first = self.start + self.rank
        return max(0, -(-(len(self.base) - first) // self.world_size))

    def global_index(self, j: int) -> int:
        if j < 0:
            j += len(self)
        if not 0 <= j < len(self):
            raise IndexError(f"item {j} out of range for {len(self)} items")
        return self.start + j * self.world_size + self.rank

    def __getitem__(self, j: int) -> dict[str, Any]:
        return self.base[self.global_index(int(j))]
