"""Model surgery for an extended vocabulary, and the embedding-only warm-up of continued pretraining.

Every new row is a convex combination of base rows (``Init``: base ids and weights), written into the input
embeddings and, when untied, the output embeddings (LM head; a head bias gets the same combination):

- ``mean`` (default; SambaLingo, Hewitt 2021 style): the mean of the embeddings of the base tokens the new
  token's string decomposes into under the base tokenizer, i.e. the sub-tokens it replaces.
- ``focus`` (FOCUS, Dobler & de Melo 2023, of the WECHSEL family): static fastText skip-gram vectors are
  trained offline on the target corpus tokenized with the *extended* tokenizer; for each new token the
  cosine similarities to the base tokens seen in that corpus go through sparsemax, and the weights combine
  those base tokens' embeddings. A new token without a fastText vector falls back to ``mean``.
- ``vocab_mean`` (Hewitt 2021, "Initializing new word embeddings for pretrained language models"): every new
  row is the mean of all base rows (``inits`` is ``None``). A new token's logit is then the average base
  logit, far below the likely tokens', so the new rows take little probability on text the base tokenizer
  already covered (English). With tied embeddings the sub-token mean puts each new row next to its
  sub-tokens' rows and so onto their logits: measured in benchmarks/results/vocab.md.

Old rows are copied unchanged by the resize, so the extended model gives the base model's logits on every
text the extended tokenizer segments as the base one did.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from curation.core import io
from curation.core.config import StrictModel
from curation.core.errors import CurationError
from curation.core.schema import VOCAB_EXTENSION_FILE

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer
    from transformers import PreTrainedModel

    from curation.train.config import EmbeddingWarmupConfig


@dataclass
class Init:
    """A new row as ``sum(weights[i] * row[ids[i]])`` over base rows."""

    ids: list[int]
    weights: list[float]


FOCUS_FASTTEXT_LR = 0.05  # fastText's skipgram default


class FocusConfig(StrictModel):
    dim: int = Field(100, gt=0, description="fastText vector size.")
    epochs: int = Field(5, gt=0, description="fastText epochs over the corpus.")
    min_count: int = Field(1, gt=0, description="Tokens seen fewer times get no vector of their own.")
    bucket: int = Field(200_000, gt=0, description="fastText hash buckets for character n-grams.")


def mean_init(base: Tokenizer, tokens: Sequence[str]) -> list[Init]:
    """Each new token as the mean of the base tokens its string decomposes into."""
    from curation.mixer.vocab import base_ids

    out = []
    for token in tokens:
        ids = base_ids(base, token)
        out.append(Init(ids, [1.0 / len(ids)] * len(ids)))
    return out


def sparsemax(z: np.ndarray) -> np.ndarray:
    """Euclidean projection of ``z`` onto the probability simplex (Martins & Astudillo 2016): sparse weights."""
    s = np.sort(z)[::-1]
    cumsum = np.cumsum(s)
    k = np.arange(1, len(z) + 1)
    support = k[1 + k * s > cumsum][-1]
    tau = (cumsum[support - 1] - 1.0) / support
    return np.maximum(z - tau, 0.0)


def _fasttext_word(token: str) -> str:
    return "".join("·" if ch.isspace() else ch for ch in token)


def focus_init(
    base: Tokenizer, extended: Tokenizer, new_ids: Sequence[int], texts: Sequence[str], cfg: FocusConfig
) -> tuple[list[Init], int]:
    """FOCUS weights for each new id, and how many fell back to ``mean`` (no fastText vector)."""
    import fasttext

    from curation.filters.backends.fasttext_model import train_halving_lr_on_nan

    first_new = min(new_ids)
    special = {int(i) for i in extended.get_added_tokens_decoder()}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            for enc in extended.encode_batch(list(texts), add_special_tokens=False):
                f.write(" ".join(_fasttext_word(t) for t, i in zip(enc.tokens, enc.ids) if i not in special))
                f.write("\n")
        ft = train_halving_lr_on_nan(
            fasttext.train_unsupervised,
            FOCUS_FASTTEXT_LR,
            input=corpus,
            model="skipgram",
            dim=cfg.dim,
            epoch=cfg.epochs,
            minCount=cfg.min_count,
            bucket=cfg.bucket,
            thread=1,  # with fastText's fixed seed: deterministic
            verbose=0,
        )
    vocab = extended.get_vocab(with_added_tokens=False)
    by_word = {_fasttext_word(t): i for t, i in vocab.items()}
    anchors = sorted(
        by_word[w] for w in ft.words if w in by_word and by_word[w] < first_new and by_word[w] not in special
    )
    if not anchors:
        raise CurationError("FOCUS: no base token occurs in the corpus")
    anchor_vecs = np.stack([ft.get_word_vector(_fasttext_word(extended.id_to_token(i))) for i in anchors])
    anchor_vecs /= np.linalg.norm(anchor_vecs, axis=1, keepdims=True) + 1e-12
    in_vocab = set(ft.words)
    fallback = mean_init(base, [extended.id_to_token(i) for i in new_ids])
    out, fell_back = [], 0
    for i, mean in zip(new_ids, fallback, strict=True):
        word = _fasttext_word(extended.id_to_token(i))
        vec = ft.get_word_vector(word)
        norm = float(np.linalg.norm(vec))
        if word not in in_vocab or norm == 0.0:
            out.append(mean)
            fell_back += 1
            continue
        weights = sparsemax(anchor_vecs @ (vec / norm))
        keep = np.nonzero(weights)[0]
        out.append(Init([anchors[k] for k in keep], [float(weights[k]) for k in keep]))
    return out, fell_back


def is_tied(model: PreTrainedModel) -> bool:
    out = model.get_output_embeddings()
    return out is not None and out.weight is model.get_input_embeddings().weight


def resize_and_init(
    model: PreTrainedModel, new_ids: Sequence[int], inits: Sequence[Init] | None
) -> dict[str, Any]:
    """Grow the input (and output) embeddings to hold ``new_ids`` and write each new row from its ``Init``,
    or as the mean of all base rows when ``inits`` is ``None``."""
    import torch

    before = model.get_input_embeddings().weight.shape[0]
    tied = is_tied(model)
    rows = max(before, max(new_ids) + 1)
    if rows != before:
        model.resize_token_embeddings(rows, mean_resizing=False)
    head = model.get_output_embeddings()
    tensors = [model.get_input_embeddings().weight]
    if head is not None and not is_tied(model):
        tensors.append(head.weight)
    if head is not None and getattr(head, "bias", None) is not None:
        tensors.append(head.bias)
    with torch.no_grad():
        for tensor in tensors:
            if inits is None:
                tensor[list(new_ids)] = tensor[:before].mean(0)
                continue
            for new_id, init in zip(new_ids, inits, strict=True):
                w = torch.tensor(init.weights, dtype=tensor.dtype, device=tensor.device)
                src = tensor[init.ids]
                tensor[new_id] = (w.view(-1, *[1] * (src.dim() - 1)) * src).sum(0)
    return {"rows_before": before, "rows_after": rows, "tied": tied, "tied_after": is_tied(model)}


def read_extension(model_dir: str | None) -> dict[str, Any] | None:
    """The ``vocab_extension.json`` record `curation vocab extend` left in a model directory, if any."""
    if not model_dir:
        return None
    path = io.join(model_dir, VOCAB_EXTENSION_FILE)
    return io.read_json(path) if io.exists(path) else None


def extension_hint(model_dir: str | None, data_fingerprint: str) -> str:
    """Why packed data does not fit an extended model, when the record says (else empty)."""
    record = read_extension(model_dir)
    if record and data_fingerprint == record["base_fingerprint"]:
        return f"; the data was packed with the base tokenizer: mix and pack again with {model_dir}"
    return ""


class EmbeddingWarmup:
    """Train only the token embeddings and the LM head (``scope: embeddings``), or only the rows `vocab
    extend` added (``scope: new_rows``), for the first ``steps`` optimiser steps; then everything.

    Frozen parameters lose their gradient before clipping and the optimiser step (AdamW skips a parameter
    without one: no update, no weight decay), so one optimiser over all parameters serves both phases and
    resume needs no extra state. With ``new_rows`` the old rows' gradients are zeroed and the rows are
    restored after each step (undoing weight decay).
    """

    def __init__(self, model: torch.nn.Module, cfg: EmbeddingWarmupConfig, new_ids: Sequence[int]) -> None:
        import torch

        self.steps = cfg.steps
        emb = model.get_input_embeddings().weight
        head = model.get_output_embeddings()
        self.rows = [emb] + ([head.weight] if head is not None and head.weight is not emb else [])
        trainable = {id(p) for p in self.rows}
        self.frozen = [p for p in model.parameters() if id(p) not in trainable]
        self.saved: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.old_rows: list[torch.Tensor] = []
        if cfg.scope == "new_rows":
            keep = torch.ones(emb.shape[0], dtype=torch.bool, device=emb.device)
            keep[list(new_ids)] = False
            self.saved = [(p, keep) for p in self.rows]
            self.old_rows = [p.detach()[keep].clone() for p in self.rows]

    @classmethod
    def setup(
        cls, model: torch.nn.Module, cfg: EmbeddingWarmupConfig, model_dir: str | None, fsdp: bool
    ) -> EmbeddingWarmup | None:
        if cfg.steps == 0:
            return None
        if fsdp:
            raise CurationError("embedding_warmup is not supported with --strategy fsdp")
        record = read_extension(model_dir)
        if cfg.scope == "new_rows" and record is None:
            raise CurationError(
                "embedding_warmup.scope new_rows needs a model made by `curation vocab extend` "
                f"({VOCAB_EXTENSION_FILE} in model.name_or_path)"
            )
        return cls(model, cfg, record["new_ids"] if record else [])

    def active(self, step: int) -> bool:
        return step < self.steps

    def mask_gradients(self, step: int) -> None:
        """Before clipping: drop the frozen parameters' gradients (and zero the old rows' ones)."""
        if not self.active(step):
            return
        for p in self.frozen:
            p.grad = None
        for p, keep in self.saved:
            if p.grad is not None:
                p.grad[keep] = 0

    def restore(self, step: int) -> None:
        """After the optimiser step: put the old rows back as they were."""
        if not self.active(step):
            return
        import torch

        with torch.no_grad():
            for (p, keep), old in zip(self.saved, self.old_rows, strict=True):
                p[keep] = old
