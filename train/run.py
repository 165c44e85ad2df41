"""`curation train`: continued pretraining on packed data, with exact resume and held-out bits per byte.

``Train.call(**config)`` is the Python API; it returns the run's stats (the summary under ``summary``).
Under ``torchrun`` every rank runs it; rank 0 writes the metrics, checkpoints' shared files, export and
evidence.
"""

from __future__ import annotations

import random
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from curation.core.errors import CurationError
from curation.core.schema import CHECKPOINTS_DIR, CURVES_PLOT, EXPORT_DIR, METRICS_FILE
from curation.core.stage import Run, Stage
from curation.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from curation.train.config import TrainConfig
from curation.train.data import DataStream, open_packed
from curation.train.distributed import (
    DistContext,
    setup_distributed,
    teardown_distributed,
    unwrap,
    wrap_model,
)
from curation.train.embeddings import EmbeddingWarmup
from curation.train.evaluate import EvalSets
from curation.train.export import export_model, run_lm_eval
from curation.train.metrics import (
    H100_BF16_PEAK_TFLOPS,
    MetricsLog,
    mfu,
    model_flops_per_token,
    plot_curves,
    read_metrics,
)
from curation.train.model import check_compatible, enable_activation_checkpointing, load_model
from curation.train.schedule import lr_at

if TYPE_CHECKING:
    import torch


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def accumulation_steps(cfg: TrainConfig, seq_len: int, world_size: int) -> int:
    """Micro-batches per optimiser step so that one step sees exactly ``global_batch_tokens``."""
    per_micro = seq_len * cfg.micro_batch_size * world_size
    if cfg.global_batch_tokens % per_micro:
        raise CurationError(
            f"global_batch_tokens {cfg.global_batch_tokens} is not a multiple of seq_len {seq_len} x "
            f"micro_batch_size {cfg.micro_batch_size} x world size {world_size} = {per_micro}"
        )
    return cfg.global_batch_tokens // per_micro


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: str) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases and norms (1-D tensors); fused kernels on CUDA."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.optimizer.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    o = cfg.optimizer
    return torch.optim.AdamW(
        groups,
        lr=cfg.schedule.lr,
        betas=(o.beta1, o.beta2),
        eps=o.eps,
        fused=device.startswith("cuda") or None,
    )


def grad_sync(model: torch.nn.Module, sync: bool) -> AbstractContextManager[Any]:
    """Skip the gradient all-reduce on all but the last micro-batch (DDP ``no_sync``; FSDP2 flag)."""
    if hasattr(model, "set_requires_gradient_sync"):
        model.set_requires_gradient_sync(sync)
        return nullcontext()
    if not sync and hasattr(model, "no_sync"):
        return model.no_sync()
    return nullcontext()


def model_inputs(batch: dict[str, torch.Tensor], device: str, intra_doc_mask: bool) -> dict[str, Any]:
    """Forward kwargs for a packed micro-batch; position ids restart per document.

    With ``intra_doc_mask`` no 2-D mask is passed, so transformers derives a block-diagonal causal mask from
    the restarting position ids (varlen kernels with flash-attention); otherwise plain causal attention.
    """
    import torch

    ids = batch["input_ids"].to(device, non_blocking=True)
    kwargs: dict[str, Any] = {
        "input_ids": ids,
        "position_ids": batch["position_ids"].to(device, non_blocking=True),
        "use_cache": False,
    }
    if not intra_doc_mask:
        kwargs["attention_mask"] = torch.ones_like(ids)
    return kwargs


def forward_loss(
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    device: str,
    intra_doc_mask: bool,
    autocast_dtype: torch.dtype | None,
) -> torch.Tensor:
    """Next-token loss (the model shifts the labels) of a packed micro-batch."""
    import torch

    kwargs = model_inputs(batch, device, intra_doc_mask)
    with torch.autocast(torch.device(device).type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        return model(labels=kwargs["input_ids"], **kwargs).loss


class Trainer:
    """One training job: set up from config, then :meth:`run` from the first or the resumed step."""

    def __init__(self, cfg: TrainConfig, ctx: DistContext) -> None:
        import torch

        from curation.mixer.tokenizer import load_tokenizer, tokenizer_fingerprint

        self.cfg, self.ctx = cfg, ctx
        self.output = Path(cfg.output)
        self.ds = open_packed(cfg.data)
        self.seq_len = self.ds.seq_len
        self.tokenizer = load_tokenizer(self.ds.tokenizer_path)
        if tokenizer_fingerprint(self.tokenizer) != self.ds.tokenizer_fingerprint:
            raise CurationError(
                f"tokenizer in {self.ds.tokenizer_path} does not match pack.json's fingerprint"
            )
        seed_everything(cfg.seed)
        model = load_model(cfg.model, self.ds.vocab_size, self.ds.eos_token_id)
        check_compatible(model, cfg.model, self.seq_len, self.ds.vocab_size, self.ds.tokenizer_fingerprint)
        if cfg.model.gradient_checkpointing:
            enable_activation_checkpointing(model)
        model.config.use_cache = False
        self.accum = accumulation_steps(cfg, self.seq_len, ctx.world_size)
        self.stream = DataStream(self.ds, ctx, cfg.micro_batch_size, self.accum, cfg.num_workers)
        on_gpu = ctx.device.startswith("cuda")
        bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and on_gpu)
        fsdp = ctx.distributed and cfg.strategy == "fsdp"
        self.autocast_dtype = torch.bfloat16 if bf16 and not fsdp else None
        self.eval_dtype = torch.bfloat16 if bf16 else None
        self.flops_per_token = model_flops_per_token(model, self.seq_len)
        self.peak_tflops = cfg.peak_tflops or (H100_BF16_PEAK_TFLOPS if on_gpu else None)
        model.to(ctx.device)
        self.warmup = EmbeddingWarmup.setup(model, cfg.embedding_warmup, cfg.model.name_or_path, fsdp)
        model = wrap_model(model, cfg.strategy, ctx, bf16)
        self.optimizer = build_optimizer(model, cfg, ctx.device)
        self.wrapped = model  # state dicts, clipping, eval and export use the uncompiled module
        self.model = torch.compile(model) if cfg.model.compile else model
        self.eval_sets = EvalSets(cfg.eval.sets, self.tokenizer, self.seq_len, cfg.eval.max_bytes_per_set)
        self.step = 0
        self.tokens_per_source = [0] * len(self.ds.sources)
        self.resumed_from = self._maybe_resume()
        self.log = (
            MetricsLog(self.output / METRICS_FILE, self.step if self.resumed_from else None)
            if ctx.is_main
            else None
        )

    def _maybe_resume(self) -> str | None:
        ckpt = latest_checkpoint(self.output / CHECKPOINTS_DIR)
        if ckpt is None:
            return None
        if not self.cfg.resume:
            raise CurationError(
                f"{self.output} already holds checkpoints ({ckpt.name}): pass --resume or "
                "choose another output"
            )
        state = load_checkpoint(ckpt, self.wrapped, self.optimizer, self.ctx)
        if state["max_steps"] != self.cfg.max_steps or state["seq_len"] != self.seq_len:
            raise CurationError(
                f"checkpoint {ckpt} is from a run with other max_steps/seq_len; use a new output"
            )
        if state["manifest_fingerprint"] != self.ds.info.get("manifest_fingerprint"):
            raise CurationError(f"checkpoint {ckpt} was trained on other packed data than {self.cfg.data}")
        position = self.stream.position(state["step"])
        if (position["epoch"], position["data_position"]) != (state["epoch"], state["data_position"]):
            raise CurationError(f"checkpoint {ckpt} data position does not fit this batch layout")
        self.step = state["step"]
        self.tokens_per_source = state["tokens_per_source"]
        return str(ckpt)

    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "max_steps": self.cfg.max_steps,
            "seq_len": self.seq_len,
            "manifest_fingerprint": self.ds.info.get("manifest_fingerprint"),
            **self.stream.position(self.step),
            "tokens_per_source": self.tokens_per_source,
            "tokens_seen": sum(self.tokens_per_source),
        }

    def checkpoint(self) -> Path:
        return save_checkpoint(
            self.output / CHECKPOINTS_DIR,
            self.step,
            self.wrapped,
            self.optimizer,
            self._state(),
            self.ctx,
            self.cfg.checkpoint.keep_last,
        )

    def evaluate(self) -> dict[str, float]:
        if not self.eval_sets:
            return {}
        bpb = self.eval_sets.bits_per_byte(  # uncompiled: eval windows vary in shape
            self.wrapped, self.cfg.eval.batch_size, self.ctx.device, self.eval_dtype
        )
        if self.log:
            self.log.write({"step": self.step, "eval_bpb": bpb})
        return bpb

    def train_step(self, batches: Any) -> dict[str, Any]:
        """One optimiser step over ``accum`` micro-batches; returns the step's metrics (all ranks agree)."""
        import torch

        lr = lr_at(self.step, self.cfg.max_steps, self.cfg.schedule)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        start = time.perf_counter()
        loss_sum = torch.zeros((), device=self.ctx.device)
        counts = [0.0] * len(self.tokens_per_source)
        for micro in range(self.accum):
            batch = next(batches)
            with grad_sync(self.model, micro == self.accum - 1):
                loss = forward_loss(
                    self.model, batch, self.ctx.device, self.cfg.intra_doc_mask, self.autocast_dtype
                )
                (loss / self.accum).backward()
            loss_sum += loss.detach().float()  # no host sync until the step is done
            for source in batch["source"].tolist():
                counts[source] += self.seq_len
        if self.warmup:
            self.warmup.mask_gradients(self.step)
        clip = self.cfg.optimizer.grad_clip or float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self.wrapped.parameters(), clip)
        self.optimizer.step()
        if self.warmup:
            self.warmup.restore(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # DTensor under FSDP2
        reduced = self.ctx.sum([loss_sum.item(), *counts])
        self.tokens_per_source = [
            a + int(b) for a, b in zip(self.tokens_per_source, reduced[1:], strict=True)
        ]
        self.step += 1
        seconds = time.perf_counter() - start
        tokens_per_s = self.cfg.global_batch_tokens / seconds
        return {
            "step": self.step,
            "loss": reduced[0] / (self.accum * self.ctx.world_size),
            "lr": lr,
            "grad_norm": grad_norm,
            "tokens_per_s": tokens_per_s,
            "mfu": mfu(tokens_per_s, self.flops_per_token, self.peak_tflops, self.ctx.world_size),
            "tokens_seen": sum(self.tokens_per_source),
            "tokens_per_source": dict(zip(self.ds.sources, self.tokens_per_source, strict=True)),
        }

    def run(self) -> dict[str, Any]:
        from curation.core.executor import progress_bar

        cfg = self.cfg
        stop = min(cfg.stop_after_steps or cfg.max_steps, cfg.max_steps)
        first_step = self.step
        bpb_before = self.evaluate() if self.step == 0 else {}
        batches = iter(self.stream.micro_batches(self.step))
        records: list[dict[str, Any]] = []
        started = time.perf_counter()
        with progress_bar() if self.ctx.is_main else nullcontext() as bar:
            task = (
                bar.add_task("training", total=cfg.max_steps, completed=self.step, info="") if bar else None
            )
            while self.step < stop:
                record = self.train_step(batches)
                records.append(record)
                if self.log and (self.step % cfg.log_every_steps == 0 or self.step == stop):
                    self.log.write(record)
                if bar is not None:
                    bar.update(task, advance=1, info=f"loss {record['loss']:.3f} lr {record['lr']:.2e}")
                if cfg.eval.every_steps and self.step % cfg.eval.every_steps == 0 and self.step < stop:
                    self.evaluate()
                if (
                    cfg.checkpoint.every_steps
                    and self.step % cfg.checkpoint.every_steps == 0
                    and self.step < stop
                ):
                    self.checkpoint()
        seconds = time.perf_counter() - started
        finished = self.step >= cfg.max_steps
        ran = self.step > first_step  # False when resuming a run that had already finished
        bpb_after = self.evaluate() if ran and (finished or cfg.eval.every_steps) else {}
        checkpoint = self.checkpoint() if ran and cfg.checkpoint.final else None
        export = (
            export_model(self.wrapped, self.tokenizer, self.output / EXPORT_DIR, self.ctx)
            if finished and cfg.export and (ran or not (self.output / EXPORT_DIR).is_dir())
            else None
        )
        return self._summary(records, seconds, bpb_before, bpb_after, checkpoint, export, finished)

    def _summary(
        self,
        records: list[dict[str, Any]],
        seconds: float,
        bpb_before: dict[str, float],
        bpb_after: dict[str, float],
        checkpoint: Path | None,
        export: Path | None,
        finished: bool,
    ) -> dict[str, Any]:
        steps_run = len(records)
        tokens = steps_run * self.cfg.global_batch_tokens
        tokens_per_s = tokens / seconds if seconds > 0 else 0.0
        lm_eval = None
        if export is not None and self.ctx.is_main and self.cfg.eval.lm_eval_tasks:
            lm_eval = run_lm_eval(
                export, self.cfg.eval.lm_eval_tasks, self.cfg.eval.lm_eval_limit, self.ctx.device
            )
        return {
            "output": str(self.output),
            "step": self.step,
            "max_steps": self.cfg.max_steps,
            "finished": finished,
            "resumed_from": self.resumed_from,
            "steps_run": steps_run,
            "rank": self.ctx.rank,
            "world_size": self.ctx.world_size,
            "accumulation_steps": self.accum,
            "seq_len": self.seq_len,
            "params": sum(p.numel() for p in unwrap(self.wrapped).parameters()),
            "flops_per_token": self.flops_per_token,
            "first_loss": records[0]["loss"] if records else None,
            "final_loss": records[-1]["loss"] if records else None,
            "tokens_this_run": tokens,
            "tokens_seen": sum(self.tokens_per_source),
            "tokens_per_source": dict(zip(self.ds.sources, self.tokens_per_source, strict=True)),
            "seconds": round(seconds, 3),
            "tokens_per_second": round(tokens_per_s, 1),
            "mfu": mfu(tokens_per_s, self.flops_per_token, self.peak_tflops, self.ctx.world_size),
            "eval_bpb_before": bpb_before,
            "eval_bpb_after": bpb_after,
            "lm_eval": lm_eval,
            "checkpoint": str(checkpoint) if checkpoint else None,
            "export": str(export) if export else None,
        }


class Train(Stage[TrainConfig]):
    """Continued pretraining of a causal LM on packed data (torchrun for many GPUs)."""

    name = "train"
    config_model = TrainConfig

    def run(self, run: Run) -> dict[str, Any]:
        ctx = setup_distributed(self.cfg.device)
        try:
            return Trainer(self.cfg, ctx).run()
        finally:
            teardown_distributed(ctx)

    def plot(self, stats: dict[str, Any], run: Run) -> None:
        records = read_metrics(Path(self.cfg.output) / METRICS_FILE)
        plot_curves(records, Path(run.run_dir) / CURVES_PLOT, f"curation train: {self.cfg.output}")

    def render(self, stats: dict[str, Any]) -> Any:
        from rich.table import Table

        s = stats["summary"]
        table = Table(title=f"curation train -> {s['output']}", show_header=False)
        done = "finished" if s["finished"] else "stopped early (resume with --resume)"
        table.add_row("steps", f"{s['step']}/{s['max_steps']} ({done}; {s['steps_run']} this run)")
        if s["final_loss"] is not None:
            table.add_row("loss", f"{s['first_loss']:.4f} -> {s['final_loss']:.4f}")
        per_source = ", ".join(f"{k}: {v:,}" for k, v in s["tokens_per_source"].items())
        table.add_row("tokens seen", f"{s['tokens_seen']:,} ({per_source})")
        mfu_text = f", MFU {s['mfu']:.1%}" if s["mfu"] is not None else ""
        table.add_row("throughput", f"{s['tokens_per_second']:,.0f} tokens/s{mfu_text}")
        for name, after in s["eval_bpb_after"].items():
            before = s["eval_bpb_before"].get(name)
            table.add_row(f"bpb {name}", (f"{before:.4f} -> " if before is not None else "") + f"{after:.4f}")
        if s["lm_eval"]:
            table.add_row("lm-eval", str(s["lm_eval"].get("skipped") or s["lm_eval"]["results"]))
        if s["export"]:
            table.add_row("export", s["export"])
        return table
