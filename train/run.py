"""`curation train`: continued pretraining on packed data, with exact resume and held-out bits per byte.

``Train.call(**config)`` is the Python API; it returns the run's stats (the summary under ``summary``).
Under ``torchrun`` every rank runs it; rank 0 writes the metrics, checkpoints' shared files, export and
evidence.
"""

from __future__ import annotations

import math
import random
import time
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import numpy as np

from curation.core import io
from curation.core.errors import CurationError
from curation.core.schema import (
    CHECKPOINT_STATE_FILE,
    CHECKPOINTS_DIR,
    CURVES_PLOT,
    EXPORT_DIR,
    METRICS_FILE,
)
from curation.core.stage import Run, Stage
from curation.train.checkpoint import Checkpointer, find_checkpoint, load_checkpoint
from curation.train.config import TrainConfig
from curation.train.data import DataStream, open_packed
from curation.train.distributed import (
    DistContext,
    setup_distributed,
    teardown_distributed,
    unwrap,
    wrap_model,
)
from curation.train.ema import EMA
from curation.train.embeddings import EmbeddingWarmup
from curation.train.evaluate import EvalSets
from curation.train.export import export_all, run_lm_eval
from curation.train.metrics import (
    H100_BF16_PEAK_TFLOPS,
    MetricsLog,
    mfu,
    model_flops_per_token,
    plot_curves,
    read_metrics,
)
from curation.train.model import (
    VARLEN,
    VARLEN_KERNELS,
    check_compatible,
    enable_activation_checkpointing,
    load_model,
)
from curation.train.schedule import ScheduleConfig, lr_at

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


def model_inputs(
    batch: dict[str, torch.Tensor], device: str, intra_doc_mask: bool, varlen: bool = False
) -> dict[str, Any]:
    """Forward kwargs for a packed micro-batch; position ids restart per document.

    With ``intra_doc_mask`` no 2-D mask is passed, so transformers derives a block-diagonal causal mask from
    the restarting position ids (SDPA, eager, flex attention); ``varlen`` kernels get the documents'
    cumulative lengths instead, computed here on the host. Without it, plain causal attention.
    """
    import torch

    from curation.train.model import document_lengths

    ids = batch["input_ids"].to(device, non_blocking=True)
    kwargs: dict[str, Any] = {
        "input_ids": ids,
        "position_ids": batch["position_ids"].to(device, non_blocking=True),
        "use_cache": False,
    }
    if not intra_doc_mask:
        kwargs["attention_mask"] = torch.ones_like(ids)
    elif varlen:
        lengths = document_lengths(batch["position_ids"])
        kwargs.update({k: v.to(device) if hasattr(v, "to") else v for k, v in lengths.items()})
    return kwargs


def forward_loss(
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    device: str,
    intra_doc_mask: bool,
    autocast_dtype: torch.dtype | None,
    varlen: bool = False,
) -> torch.Tensor:
    """Next-token loss (the model shifts the labels) of a packed micro-batch."""
    import torch

    kwargs = model_inputs(batch, device, intra_doc_mask, varlen)
    with torch.autocast(torch.device(device).type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        return model(labels=kwargs["input_ids"], **kwargs).loss


def check_branch_point(ckpt: str, state: dict[str, Any], cfg: TrainConfig) -> None:
    """A run started from another run's checkpoint (a cooldown) branches from that run's stable phase: the
    checkpoint's last step ran at its schedule's peak LR, which this run's schedule continues from."""
    source = ScheduleConfig(**state["schedule"])
    step = state["step"]
    last_lr = lr_at(step - 1, state["max_steps"], source)
    if not math.isclose(last_lr, source.lr, rel_tol=1e-9):
        raise CurationError(
            f"init_from {ckpt} (step {step}) is not in the stable phase of its run: its last LR was "
            f"{last_lr:.3g}, the stable LR {source.lr:.3g}; branch from a checkpoint after warm-up, before decay"
        )
    if not math.isclose(cfg.schedule.lr, source.lr, rel_tol=1e-9):
        raise CurationError(
            f"schedule.lr {cfg.schedule.lr:.3g} differs from the stable LR {source.lr:.3g} of {ckpt}"
        )
    if cfg.max_steps <= step:
        raise CurationError(f"max_steps {cfg.max_steps} must exceed the step {step} of init_from {ckpt}")


class Trainer:
    """One training job: set up from config, then :meth:`run` from the first or the resumed step."""

    def __init__(self, cfg: TrainConfig, ctx: DistContext) -> None:
        import torch

        from curation.mixer.tokenizer import load_tokenizer, tokenizer_fingerprint

        self.cfg, self.ctx = cfg, ctx
        self.output = cfg.output
        if cfg.model.attn_implementation == VARLEN and not ctx.device.startswith("cuda"):
            raise CurationError("model.attn_implementation 'varlen' needs a CUDA GPU (use sdpa on CPU)")
        self.varlen = cfg.intra_doc_mask and cfg.model.attn_implementation in VARLEN_KERNELS
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
        self.ema = EMA(model, cfg.ema_decay) if cfg.ema_decay else None
        sharded = cfg.checkpoint.format == "sharded" or (cfg.checkpoint.format == "auto" and fsdp)
        self.checkpointer = Checkpointer(
            io.join(self.output, CHECKPOINTS_DIR),
            ctx,
            sharded,
            cfg.checkpoint.keep_last,
            cfg.checkpoint.async_save,
        )
        self.eval_sets = EvalSets(cfg.eval.sets, self.tokenizer, self.seq_len, cfg.eval.max_bytes_per_set)
        self.step = 0
        self.tokens_per_source = [0] * len(self.ds.sources)
        self.resumed_from: str | None = None
        self.init_from: str | None = None
        self._start_from_checkpoint()
        self.log = (
            MetricsLog(io.join(self.output, METRICS_FILE), self.step if self.resumed_from else None)
            if ctx.is_main
            else None
        )

    def _start_from_checkpoint(self) -> None:
        """Resume from this output's latest checkpoint, or start from ``init_from``; or from scratch."""
        cfg = self.cfg
        ckpt = find_checkpoint(self.checkpointer.root)
        if ckpt is not None and not cfg.resume:
            raise CurationError(
                f"{self.output} already holds checkpoints ({ckpt.rsplit('/', 1)[-1]}): pass --resume or "
                "choose another output"
            )
        if ckpt is None and cfg.init_from is not None:
            if not io.exists(io.join(cfg.init_from, CHECKPOINT_STATE_FILE)):
                raise CurationError(f"init_from is not a complete checkpoint: {cfg.init_from}")
            ckpt = cfg.init_from
            self.init_from = ckpt
        elif ckpt is not None:
            self.resumed_from = ckpt
        if ckpt is None:
            return
        state = load_checkpoint(ckpt, self.wrapped, self.optimizer, self.ema, self.ctx)
        if state["seq_len"] != self.seq_len:
            raise CurationError(f"checkpoint {ckpt} is from a run with seq_len {state['seq_len']}")
        if self.resumed_from and state["max_steps"] != cfg.max_steps:
            raise CurationError(f"checkpoint {ckpt} is from a run with other max_steps; use a new output")
        if state["manifest_fingerprint"] != self.ds.info.get("manifest_fingerprint"):
            raise CurationError(f"checkpoint {ckpt} was trained on other packed data than {cfg.data}")
        position = self.stream.position(state["step"])
        if (position["epoch"], position["data_position"]) != (state["epoch"], state["data_position"]):
            raise CurationError(f"checkpoint {ckpt} data position does not fit this batch layout")
        if self.init_from:
            check_branch_point(ckpt, state, cfg)
        self.step = state["step"]
        self.tokens_per_source = state["tokens_per_source"]

    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "max_steps": self.cfg.max_steps,
            "seq_len": self.seq_len,
            "manifest_fingerprint": self.ds.info.get("manifest_fingerprint"),
            "schedule": self.cfg.schedule.model_dump(mode="json"),
            **self.stream.position(self.step),
            "tokens_per_source": self.tokens_per_source,
            "tokens_seen": sum(self.tokens_per_source),
        }

    def checkpoint(self) -> str:
        if self.log:
            self.log.flush()
        return self.checkpointer.save(self.step, self.wrapped, self.optimizer, self.ema, self._state())

    def evaluate(self) -> dict[str, dict[str, float]]:
        """Held-out bits per byte (``eval_bpb``) and, with an EMA, of the averaged weights (``eval_bpb_ema``)."""
        if not self.eval_sets:
            return {}

        def bpb() -> dict[str, float]:  # uncompiled: eval windows vary in shape
            return self.eval_sets.bits_per_byte(
                self.wrapped, self.cfg.eval.batch_size, self.ctx.device, self.eval_dtype
            )

        record = {"eval_bpb": bpb()}
        if self.ema is not None:
            with self.ema.swapped():
                record["eval_bpb_ema"] = bpb()
        if self.log:
            self.log.write({"step": self.step, **record})
        return record

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
                    self.model,
                    batch,
                    self.ctx.device,
                    self.cfg.intra_doc_mask,
                    self.autocast_dtype,
                    self.varlen,
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
        if self.ema is not None:
            self.ema.update()
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
        bpb_before = self.evaluate() if self.resumed_from is None else {}
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
                self.checkpointer.poll()
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
        self.checkpointer.wait()
        if self.log:
            self.log.flush()
        exports = (
            export_all(self.wrapped, self.ema, self.tokenizer, self.output, self.ctx)
            if finished and cfg.export and (ran or not io.exists(io.join(self.output, EXPORT_DIR)))
            else {}
        )
        return self._summary(records, seconds, bpb_before, bpb_after, checkpoint, exports, finished)

    def _summary(
        self,
        records: list[dict[str, Any]],
        seconds: float,
        bpb_before: dict[str, dict[str, float]],
        bpb_after: dict[str, dict[str, float]],
        checkpoint: str | None,
        exports: dict[str, str],
        finished: bool,
    ) -> dict[str, Any]:
        steps_run = len(records)
        tokens = steps_run * self.cfg.global_batch_tokens
        tokens_per_s = tokens / seconds if seconds > 0 else 0.0
        lm_eval = None
        if exports and self.ctx.is_main and self.cfg.eval.lm_eval_tasks:
            lm_eval = run_lm_eval(
                exports["export"], self.cfg.eval.lm_eval_tasks, self.cfg.eval.lm_eval_limit, self.ctx.device
            )
        return {
            "output": self.output,
            "step": self.step,
            "max_steps": self.cfg.max_steps,
            "finished": finished,
            "resumed_from": self.resumed_from,
            "init_from": self.init_from,
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
            "eval_bpb_before": bpb_before.get("eval_bpb", {}),
            "eval_bpb_after": bpb_after.get("eval_bpb", {}),
            "eval_bpb_after_ema": bpb_after.get("eval_bpb_ema", {}),
            "lm_eval": lm_eval,
            "checkpoint": checkpoint,
            "export": exports.get("export"),
            "export_ema": exports.get("export_ema"),
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
        records = read_metrics(io.join(self.cfg.output, METRICS_FILE))
        plot_curves(records, io.join(run.run_dir, CURVES_PLOT), f"curation train: {self.cfg.output}")

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
            ema = s["eval_bpb_after_ema"].get(name)
            table.add_row(
                f"bpb {name}",
                (f"{before:.4f} -> " if before is not None else "")
                + f"{after:.4f}"
                + (f" (EMA {ema:.4f})" if ema is not None else ""),
            )
        if s["lm_eval"]:
            table.add_row("lm-eval", str(s["lm_eval"].get("skipped") or s["lm_eval"]["results"]))
        for key in ("export", "export_ema"):
            if s[key]:
                table.add_row(key, s[key])
        return table
