"""`curation train`: every config key is also a flag (nested keys as ``--schedule-lr`` etc.)."""

from __future__ import annotations

from typing import Annotated, Any

import typer


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"curation train -> {summary['output']}", show_header=False)
    done = "finished" if summary["finished"] else "stopped early (resume with --resume)"
    table.add_row(
        "steps", f"{summary['step']}/{summary['max_steps']} ({done}; {summary['steps_run']} this run)"
    )
    if summary["final_loss"] is not None:
        table.add_row("loss", f"{summary['first_loss']:.4f} -> {summary['final_loss']:.4f}")
    table.add_row(
        "tokens seen",
        f"{summary['tokens_seen']:,} ("
        + ", ".join(f"{k}: {v:,}" for k, v in summary["tokens_per_source"].items())
        + ")",
    )
    table.add_row(
        "throughput",
        f"{summary['tokens_per_second']:,.0f} tokens/s"
        + (f", MFU {summary['mfu']:.1%}" if summary["mfu"] is not None else ""),
    )
    for name, after in summary["eval_bpb_after"].items():
        before = summary["eval_bpb_before"].get(name)
        table.add_row(f"bpb {name}", (f"{before:.4f} -> " if before is not None else "") + f"{after:.4f}")
    if summary["lm_eval"]:
        table.add_row("lm-eval", str(summary["lm_eval"].get("skipped") or summary["lm_eval"]["results"]))
    if summary["export"]:
        table.add_row("export", summary["export"])
    Console().print(table)


def _json_option(flag: str, value: str | None) -> dict[str, Any] | None:
    import json

    from curation.errors import CurationError

    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise CurationError(f"{flag} is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise CurationError(f"{flag} must be a JSON object")
    return parsed


def _named_paths(flag: str, values: list[str] | None) -> dict[str, list[str]] | None:
    """``NAME=PATH`` items (a name may repeat) -> ``{name: [paths]}``."""
    from curation.errors import CurationError

    if not values:
        return None
    sets: dict[str, list[str]] = {}
    for item in values:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise CurationError(f"{flag} wants NAME=PATH, got '{item}'")
        sets.setdefault(name, []).append(path)
    return sets


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        config: Annotated[
            str | None, typer.Option("--config", "-c", help="YAML config; flags override it.")
        ] = None,
        data: Annotated[
            str | None, typer.Option(help="Packed data directory (`curation pack` output).")
        ] = None,
        output: Annotated[str | None, typer.Option("--output", "-o", help="Output directory.")] = None,
        model: Annotated[
            str | None, typer.Option("--model", help="Pretrained model: local dir or hub id.")
        ] = None,
        max_steps: Annotated[int | None, typer.Option(help="Optimiser steps of the whole run.")] = None,
        stop_after_steps: Annotated[
            int | None, typer.Option(help="End this job at this step (resumable).")
        ] = None,
        global_batch_tokens: Annotated[int | None, typer.Option(help="Tokens per optimiser step.")] = None,
        micro_batch_size: Annotated[int | None, typer.Option(help="Sequences per rank per forward.")] = None,
        lr: Annotated[float | None, typer.Option(help="Peak (or continued) learning rate.")] = None,
        min_lr: Annotated[float | None, typer.Option(help="Final learning rate.")] = None,
        schedule: Annotated[str | None, typer.Option(help="cosine, wsd, continue or constant.")] = None,
        warmup_steps: Annotated[int | None, typer.Option(help="Linear re-warm-up steps.")] = None,
        decay_steps: Annotated[int | None, typer.Option(help="WSD/continue: decay steps at the end.")] = None,
        decay_shape: Annotated[str | None, typer.Option(help="linear, cosine or 1-sqrt.")] = None,
        weight_decay: Annotated[float | None, typer.Option(help="AdamW weight decay.")] = None,
        grad_clip: Annotated[float | None, typer.Option(help="Max gradient norm (0: off).")] = None,
        checkpoint_every: Annotated[int | None, typer.Option(help="Checkpoint every N steps.")] = None,
        keep_checkpoints: Annotated[int | None, typer.Option(help="Checkpoints to keep.")] = None,
        eval_every: Annotated[int | None, typer.Option(help="Held-out bits per byte every N steps.")] = None,
        eval_max_bytes: Annotated[int | None, typer.Option(help="Bytes of text per eval set.")] = None,
        intra_doc_mask: Annotated[
            bool | None,
            typer.Option("--intra-doc-mask/--no-intra-doc-mask", help="Attend within documents only."),
        ] = None,
        gradient_checkpointing: Annotated[
            bool | None, typer.Option("--gradient-checkpointing/--no-gradient-checkpointing")
        ] = None,
        compile: Annotated[bool | None, typer.Option("--compile/--no-compile", help="torch.compile.")] = None,
        resume: Annotated[
            bool | None, typer.Option("--resume/--no-resume", help="Continue from checkpoint.")
        ] = None,
        seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
        device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
        precision: Annotated[str | None, typer.Option(help="auto, bf16 or fp32.")] = None,
        strategy: Annotated[str | None, typer.Option(help="Under torchrun: auto/ddp or fsdp.")] = None,
        peak_tflops: Annotated[float | None, typer.Option(help="Per-device peak for MFU.")] = None,
        export: Annotated[
            bool | None, typer.Option("--export/--no-export", help="save_pretrained at end.")
        ] = None,
        model_config: Annotated[
            str | None, typer.Option(help="New model from config keys (JSON): '{\"hidden_size\": 64, ...}'.")
        ] = None,
        attn_implementation: Annotated[
            str | None, typer.Option(help="sdpa, eager, flash_attention_2.")
        ] = None,
        warmup_start_lr: Annotated[float | None, typer.Option(help="LR at the start of warm-up.")] = None,
        beta1: Annotated[float | None, typer.Option(help="AdamW beta1.")] = None,
        beta2: Annotated[float | None, typer.Option(help="AdamW beta2.")] = None,
        eps: Annotated[float | None, typer.Option(help="AdamW epsilon.")] = None,
        final_checkpoint: Annotated[
            bool | None, typer.Option("--final-checkpoint/--no-final-checkpoint", help="Checkpoint at end.")
        ] = None,
        eval_set: Annotated[
            list[str] | None, typer.Option(help="Held-out set NAME=PATH (file, dir or glob); repeatable.")
        ] = None,
        eval_batch_size: Annotated[int | None, typer.Option(help="Windows per eval forward.")] = None,
        lm_eval_task: Annotated[
            list[str] | None, typer.Option(help="lm-evaluation-harness task on the export; repeatable.")
        ] = None,
        lm_eval_limit: Annotated[int | None, typer.Option(help="Examples per lm-eval task.")] = None,
        log_every: Annotated[int | None, typer.Option(help="Metrics line every N steps.")] = None,
        num_workers: Annotated[int | None, typer.Option(help="DataLoader worker processes.")] = None,
    ) -> None:
        """Continued pretraining of a causal LM on packed data (torchrun for many GPUs)."""
        from train.config import load_train_config
        from train.run import train as run_train

        cfg = load_train_config(
            config,
            {
                "data": data,
                "output": output,
                "model.name_or_path": model,
                "max_steps": max_steps,
                "stop_after_steps": stop_after_steps,
                "global_batch_tokens": global_batch_tokens,
                "micro_batch_size": micro_batch_size,
                "schedule.lr": lr,
                "schedule.min_lr": min_lr,
                "schedule.kind": schedule,
                "schedule.warmup_steps": warmup_steps,
                "schedule.decay_steps": decay_steps,
                "schedule.decay_shape": decay_shape,
                "optimizer.weight_decay": weight_decay,
                "optimizer.grad_clip": grad_clip,
                "checkpoint.every_steps": checkpoint_every,
                "checkpoint.keep_last": keep_checkpoints,
                "eval.every_steps": eval_every,
                "eval.max_bytes_per_set": eval_max_bytes,
                "intra_doc_mask": intra_doc_mask,
                "model.gradient_checkpointing": gradient_checkpointing,
                "model.compile": compile,
                "resume": resume,
                "seed": seed,
                "device": device,
                "precision": precision,
                "strategy": strategy,
                "peak_tflops": peak_tflops,
                "export": export,
                "model.config": _json_option("--model-config", model_config),
                "model.attn_implementation": attn_implementation,
                "schedule.warmup_start_lr": warmup_start_lr,
                "optimizer.beta1": beta1,
                "optimizer.beta2": beta2,
                "optimizer.eps": eps,
                "checkpoint.final": final_checkpoint,
                "eval.sets": _named_paths("--eval-set", eval_set),
                "eval.batch_size": eval_batch_size,
                "eval.lm_eval_tasks": lm_eval_task or None,
                "eval.lm_eval_limit": lm_eval_limit,
                "log_every_steps": log_every,
                "num_workers": num_workers,
            },
        )
        summary = run_train(cfg)
        if summary["rank"] == 0:
            _print_summary(summary)
