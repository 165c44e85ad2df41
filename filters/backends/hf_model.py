"""Hugging Face backend: sequence-classification or regression models from a local directory or a hub id.

Texts are scored in length-sorted batches, truncated to the model's maximum length, in bf16 on a GPU when
one is present. ``finetune`` trains a small encoder on labelled texts (plain PyTorch loop, CPU or GPU).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curation.core.errors import CurationError
from curation.filters.card import ClassifierCard, is_numeric

MODEL_DIR = "model"
DEFAULT_MAX_TOKENS = 512
_DEFAULT_LABEL = re.compile(r"^LABEL_\d+$")
FINETUNE_DEFAULTS: dict[str, Any] = {"epochs": 3, "batch_size": 16, "lr": 5e-5, "max_tokens": 256, "seed": 0}


def _device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def load_model(name_or_path: str, device: str | None = None) -> tuple[Any, Any, str]:
    """(tokenizer, model in eval mode, device); a load failure is a user error naming the model."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    dev = _device(device)
    dtype = torch.bfloat16 if dev.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        model = AutoModelForSequenceClassification.from_pretrained(name_or_path, dtype=dtype)
    except OSError as exc:
        raise CurationError(f"cannot load transformers model {name_or_path}: {exc}") from exc
    return tokenizer, model.to(dev).eval(), dev


def card_from_config(config: Any, task: str, model_file: str) -> ClassifierCard:
    """A card for a model trained elsewhere: regression when it has one output, else its id2label."""
    if config.num_labels == 1:
        return ClassifierCard(task=task, backend="transformers", target="regression", model_file=model_file)
    labels = [str(config.id2label[i]) for i in range(config.num_labels)]
    target = "binary" if len(labels) == 2 else "classes"
    unnamed = all(_DEFAULT_LABEL.match(label) for label in labels)
    positive = labels[-1] if unnamed or (target == "classes" and not is_numeric(labels)) else None
    return ClassifierCard(
        task=task,
        backend="transformers",
        target=target,
        labels=labels,
        positive_label=positive,
        model_file=model_file,
    )


def max_tokens(tokenizer: Any, model: Any) -> int:
    limits = [getattr(model.config, "max_position_embeddings", None), tokenizer.model_max_length]
    usable = [int(x) for x in limits if isinstance(x, int) and 0 < x < 1_000_000]
    return min(usable) if usable else DEFAULT_MAX_TOKENS


class TransformersScorer:
    """Batched, truncated inference; the card maps logits (softmax) or the regression output to a score."""

    def __init__(
        self,
        name_or_path: str,
        card: ClassifierCard | None = None,
        task: str | None = None,
        batch_size: int = 32,
        device: str | None = None,
    ) -> None:
        self.tokenizer, self.model, self.device = load_model(name_or_path, device)
        self.card = card or card_from_config(self.model.config, task or Path(name_or_path).name, name_or_path)
        self.task = self.card.task
        self.batch_size = batch_size
        self.max_tokens = max_tokens(self.tokenizer, self.model)

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        order = np.argsort([len(t) for t in texts], kind="stable")
        width = 1 if self.card.target == "regression" else len(self.card.labels)
        out = np.zeros((len(texts), width), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    truncation=True,
                    max_length=self.max_tokens,
                    padding=True,
                    return_tensors="pt",
                ).to(self.device)
                logits = self.model(**batch).logits.float()
                values = logits if width == 1 else torch.softmax(logits, dim=-1)
                out[idx] = values.cpu().numpy()
        return out

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return self.card.scores(self.proba(texts))


def finetune(
    encoder: str,
    texts: Sequence[str],
    labels: Sequence[Any],
    target: str,
    label_names: list[str],
    output_dir: Path,
    params: dict[str, Any],
) -> str:
    """Fine-tune ``encoder`` (local dir or hub id) with a classification or regression head; save it."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    p = {**FINETUNE_DEFAULTS, **params}
    torch.manual_seed(p["seed"])
    dev = _device(p.get("device"))
    regression = target == "regression"
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    model = AutoModelForSequenceClassification.from_pretrained(
        encoder,
        num_labels=1 if regression else len(label_names),
        id2label=None if regression else dict(enumerate(label_names)),
        label2id=None if regression else {name: i for i, name in enumerate(label_names)},
    ).to(dev)
    ys = (
        torch.tensor([float(y) for y in labels])
        if regression
        else torch.tensor([label_names.index(str(y)) for y in labels])
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=p["lr"])
    steps = p["epochs"] * math.ceil(len(texts) / p["batch_size"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / max(1, steps)))
    use_bf16 = dev.startswith("cuda") and torch.cuda.is_bf16_supported()
    model.train()
    generator = torch.Generator().manual_seed(p["seed"])
    for _ in range(p["epochs"]):
        for batch_idx in torch.randperm(len(texts), generator=generator).split(p["batch_size"]):
            enc = tokenizer(
                [texts[i] for i in batch_idx],
                truncation=True,
                max_length=p["max_tokens"],
                padding=True,
                return_tensors="pt",
            ).to(dev)
            target_batch = ys[batch_idx].to(dev)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_bf16):
                loss = model(**enc, labels=target_batch).loss
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
    model.eval()
    model.save_pretrained(output_dir / MODEL_DIR)
    tokenizer.save_pretrained(output_dir / MODEL_DIR)
    return MODEL_DIR
