"""Training metrics: FLOPs per token and MFU, the JSONL log (resume-safe) and the plot of the curves."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from curation.core import io

if TYPE_CHECKING:
    import torch

H100_BF16_PEAK_TFLOPS = 989.0


def count_params(model: torch.nn.Module, exclude_embeddings: bool = False) -> int:
    n = sum(p.numel() for p in model.parameters())
    if exclude_embeddings:
        emb = model.get_input_embeddings()
        n -= emb.weight.numel() if emb is not None else 0
    return n


def flops_per_token(matmul_params: int, n_layers: int, hidden_size: int, seq_len: int) -> float:
    """Training FLOPs per token (PaLM, appendix B): 6 N for the matmul parameters (all but the input
    embedding, the LM head included) plus 12 L H T for attention scores and values."""
    return 6.0 * matmul_params + 12.0 * n_layers * hidden_size * seq_len


def model_flops_per_token(model: torch.nn.Module, seq_len: int) -> float:
    cfg = model.config
    matmul_params = count_params(model, exclude_embeddings=True)
    if getattr(
        cfg, "tie_word_embeddings", False
    ):  # the shared head weight was just subtracted with the input
        matmul_params += cfg.vocab_size * cfg.hidden_size
    return flops_per_token(matmul_params, cfg.num_hidden_layers, cfg.hidden_size, seq_len)


def mfu(
    tokens_per_second: float, flops_per_tok: float, peak_tflops: float | None, world_size: int
) -> float | None:
    """Model FLOPs utilisation: achieved / (peak per device * devices); None without a known peak."""
    if not peak_tflops:
        return None
    return tokens_per_second * flops_per_tok / (peak_tflops * 1e12 * world_size)


class MetricsLog:
    """JSONL, one record per logged step or eval; on resume, records after the checkpoint (and a line a kill
    cut short) go. Locally each record is appended at once; an object store has no append, so there the file
    is rewritten by :meth:`flush` (at every checkpoint and at the end: what a kill loses after the last
    checkpoint, a resume would drop anyway)."""

    def __init__(self, path: str, resume_step: int | None) -> None:
        self.path = path
        self.remote = io.is_remote(path)
        self.lines: list[str] = []
        if resume_step is not None and io.exists(path):
            self.lines = [
                line + "\n"
                for line in io.read_text(path).splitlines()
                if (record := _parse(line)) is not None and record["step"] <= resume_step
            ]
        io.write_text(path, "".join(self.lines))
        if not self.remote:
            self.lines = []

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record) + "\n"
        if self.remote:
            self.lines.append(line)
            return
        with open(io.local_path(self.path), "a", encoding="utf-8") as f:
            f.write(line)

    def flush(self) -> None:
        if self.remote:
            io.write_text(self.path, "".join(self.lines))


def _parse(line: str) -> dict[str, Any] | None:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl, local or remote ([] when there is none)."""
    path = os.fspath(path)
    if not io.exists(path):
        return []
    return [json.loads(line) for line in io.read_text(path).splitlines() if line.strip()]


def plot_curves(records: list[dict[str, Any]], path: str | os.PathLike[str], title: str) -> None:
    """Training loss and LR against step, and eval bits per byte per set (forgetting: a rising line)."""
    from curation.core.plots import pyplot, save

    plt = pyplot()
    train = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval_bpb" in r]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    axes[0].plot([r["step"] for r in train], [r["loss"] for r in train], color="#1565c0")
    axes[0].set(xlabel="step", ylabel="train loss (nats/token)", title="loss")
    axes[1].plot([r["step"] for r in train], [r["lr"] for r in train], color="#6a1b9a")
    axes[1].set(xlabel="step", ylabel="learning rate", title="LR schedule")
    names = sorted({name for r in evals for name in r["eval_bpb"]})
    for name in names:
        pts = [(r["step"], r["eval_bpb"][name]) for r in evals if name in r["eval_bpb"]]
        axes[2].plot([s for s, _ in pts], [v for _, v in pts], marker="o", label=name)
    axes[2].set(xlabel="step", ylabel="bits per byte", title="held-out bits per byte")
    if names:
        axes[2].legend()
    fig.suptitle(title)
    fig.tight_layout()
    save(fig, path)
