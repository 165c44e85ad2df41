"""Training throughput and MFU: `curation train` versus a bare PyTorch/transformers loop, same model, same data.

The data are real: Portuguese (Machado de Assis) and English (State of the Union) text from ../shared/data,
planned and packed with the project's own mixer (`curation mix` + `curation pack`) using the Llama-2 test
tokenizer (32,003 ids), repeated as needed for volume. The model is a 1B-class Llama (TinyLlama-1.1B shapes:
22 layers, hidden 2048, GQA 32/4 heads, random init, 4,096 positions) at seq 4096 in bf16 autocast with fused
AdamW on GPU; ``--tiny`` swaps in the 2-layer, hidden-64 test model and a short sequence for a CPU smoke run.
Without CUDA and without ``--tiny`` it says so and exits 0.

Options cover the GPU paths of the loop: ``--compile`` (torch.compile), ``--gradient-checkpointing``,
``--intra-doc-mask`` with ``--attn varlen`` (PyTorch's flash varlen kernel), ``flex_attention``,
``flash_attention_2`` (flash-attn package) or ``sdpa`` (a materialised block-diagonal mask), and
``--strategy fsdp`` under torchrun (FSDP2 on NCCL, bf16 params, fp32 reductions; only our loop runs there).

Reported for both loops: steady-state tokens/s (after ``--warmup-steps``), MFU = tokens/s x training FLOPs per
token (6 N + 12 L H T, PaLM appendix B) / (peak FLOP/s x devices), and ours / reference. The reference is
the textbook loop (AdamW fused on CUDA, autocast, loss.backward, clip, step, plain causal attention) with no
checkpointing, metrics or data-position bookkeeping, so with the same options the ratio is the cost of the
product's loop; intra-document masking is ours only (labelled in the variant). ``--markdown FILE`` appends the
row to a results fragment. Public figures for 1B models on H100 are about 40-45% MFU.

    python benchmarks/train_mfu.py                                        # 1 GPU: bf16, fused AdamW, sdpa
    python benchmarks/train_mfu.py --compile --intra-doc-mask --attn varlen
    python benchmarks/train_mfu.py --compile --gradient-checkpointing --micro-batch-size 8
    torchrun --nproc_per_node 1 benchmarks/train_mfu.py --strategy fsdp --compile --intra-doc-mask --attn varlen
    python benchmarks/train_mfu.py --tiny --steps 12 --device cpu         # CPU smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

DATA = Path(os.environ.get("CURATION_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
TOKENIZER = DATA / "tokenizers" / "dolma_test_tokenizers" / "llama-test-tokenizer.json"
LLAMA_1B: dict[str, Any] = {  # TinyLlama-1.1B shapes
    "model_type": "llama",
    "hidden_size": 2048,
    "intermediate_size": 5632,
    "num_hidden_layers": 22,
    "num_attention_heads": 32,
    "num_key_value_heads": 4,
    "max_position_embeddings": 4096,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
}


def pack_real_text(out: Path, seq_len: int, total_tokens: int) -> Path:
    """Plan and pack pt + en text with the mixer; sources repeat (max_epochs) to reach the budget. Under
    torchrun rank 0 packs and the other ranks wait for its evidence."""
    from curation.mixer.manifest import Mix
    from curation.mixer.pack import Pack

    packed = out / "packed"
    if int(os.environ.get("RANK", "0")) != 0:
        while not (packed / "_run" / "stats.json").exists():
            time.sleep(1)
        return packed
    spec = {
        "tokenizer": str(TOKENIZER),
        "seq_len": seq_len,
        "total_tokens": total_tokens,
        "seed": 0,
        "executor": "local",
        "sources": {
            "pt": {
                "paths": [str(DATA / "text" / "pt" / "machado_de_assis" / "*.txt")],
                "weight": 0.7,
                "max_epochs": 1000,
            },
            "en": {
                "paths": [str(DATA / "text" / "en" / "nltk" / "state_union" / "*.txt")],
                "weight": 0.3,
                "max_epochs": 1000,
            },
        },
    }
    Mix.call(**spec, output=str(out / "mix"))
    Pack.call(manifest=str(out / "mix"), output=str(packed), executor="local")
    return packed


def steady_tokens_per_second(step_seconds: list[float], tokens_per_step: int, warmup: int) -> float:
    timed = step_seconds[warmup:] or step_seconds
    return tokens_per_step / statistics.median(timed)


def tokens_per_step(args: argparse.Namespace, world_size: int) -> int:
    return args.seq_len * args.micro_batch_size * args.accumulation * world_size


def run_ours(
    args: argparse.Namespace, packed: Path, model_keys: dict[str, Any], out: Path, world_size: int
) -> dict[str, Any]:
    from curation.train.run import Train

    stats = Train.call(
        data=str(packed),
        output=str(out),
        model={
            "config": model_keys,
            "compile": args.compile,
            "gradient_checkpointing": args.gradient_checkpointing,
            "attn_implementation": args.attn,
        },
        max_steps=args.steps,
        global_batch_tokens=tokens_per_step(args, world_size),
        micro_batch_size=args.micro_batch_size,
        intra_doc_mask=args.intra_doc_mask,
        schedule={"kind": "cosine", "lr": 3e-4, "min_lr": 3e-5, "warmup_steps": 2},
        checkpoint={"final": False},
        export=False,
        device=args.device,
        strategy=args.strategy,
        peak_tflops=args.peak_tflops,
    )
    summary = stats["summary"]
    if summary["rank"] != 0:
        return {}
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    step_tokens = tokens_per_step(args, world_size)
    seconds = [step_tokens / r["tokens_per_s"] for r in records if "loss" in r]
    return {
        "tokens_per_s": steady_tokens_per_second(seconds, step_tokens, args.warmup_steps),
        "final_loss": summary["final_loss"],
        "params": summary["params"],
        "flops_per_token": summary["flops_per_token"],
    }


def run_reference(args: argparse.Namespace, packed: Path, model_keys: dict[str, Any]) -> dict[str, Any]:
    """The textbook transformers + torch loop over the same packed sequences (plain causal SDPA)."""
    import torch
    from torch.utils.data import DataLoader
    from transformers import AutoConfig, AutoModelForCausalLM

    from curation.mixer.dataset import PackedDataset
    from curation.train.model import enable_activation_checkpointing

    device = "cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu"
    ds = PackedDataset(packed)
    keys = dict(model_keys)
    config = AutoConfig.for_model(keys.pop("model_type"), vocab_size=ds.vocab_size, **keys)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").to(device)
    if args.gradient_checkpointing:
        enable_activation_checkpointing(model)
    if args.compile:
        model = torch.compile(model)
    opt = torch.optim.AdamW(
        model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=device == "cuda" or None
    )
    loader = iter(DataLoader(ds, batch_size=args.micro_batch_size, shuffle=False))
    dtype = torch.bfloat16 if device == "cuda" else None
    step_seconds, loss = [], torch.tensor(0.0)
    for _ in range(args.steps):
        start = time.perf_counter()
        for _ in range(args.accumulation):
            ids = next(loader)["input_ids"].to(device)
            with torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None):
                loss = model(input_ids=ids, labels=ids, use_cache=False).loss
            (loss / args.accumulation).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss.item()  # synchronises, like our loop's logging
        step_seconds.append(time.perf_counter() - start)
    return {
        "tokens_per_s": steady_tokens_per_second(step_seconds, tokens_per_step(args, 1), args.warmup_steps),
        "final_loss": float(loss.detach()),
    }


def variant(args: argparse.Namespace, world_size: int) -> str:
    """The options of this measurement, as a label."""
    parts = ["bf16 autocast, fused AdamW" if args.device != "cpu" else "fp32 (CPU)"]
    if args.strategy == "fsdp":
        parts.append(f"FSDP2 x{world_size}")
    parts += [
        name for flag, name in ((args.compile, "compile"), (args.gradient_checkpointing, "act. ckpt")) if flag
    ]
    parts.append(f"intra-doc mask ({args.attn})" if args.intra_doc_mask else f"causal ({args.attn})")
    return ", ".join(parts)


def markdown_row(result: dict[str, Any]) -> str:
    def pct(x: float | None) -> str:
        return f"{x:.1%}" if x is not None else "n/a"

    ref = result.get("reference_tokens_per_s")
    return (
        f"| {result['date']} | {result['device']} | {result['model']}, seq {result['seq_len']}, "
        f"{result['tokens_per_step']:,} tokens/step | {result['variant']} | {result['ours_tokens_per_s']:,.0f} | "
        f"{pct(result['ours_mfu'])} | {f'{ref:,.0f}' if ref else 'n/a'} | {pct(result.get('reference_mfu'))} | "
        f"{result.get('ratio_ours_over_reference') or 'n/a'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tiny", action="store_true", help="2-layer hidden-64 model, seq 64 (CPU smoke test)"
    )
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup-steps", type=int, default=5, help="steps left out of the throughput")
    parser.add_argument("--seq-len", type=int, default=None, help="default 4096 (64 with --tiny)")
    parser.add_argument("--micro-batch-size", type=int, default=None, help="default 4 per device")
    parser.add_argument("--accumulation", type=int, default=1)
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="per device; default 989 (H100/H200 dense bf16) on GPU",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--intra-doc-mask", action="store_true", help="attend within documents (ours only)")
    parser.add_argument(
        "--attn", default="sdpa", help="sdpa, varlen, flex_attention or flash_attention_2 (ours)"
    )
    parser.add_argument("--strategy", default="auto", help="under torchrun: ddp or fsdp (ours only)")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs of each loop; best is kept")
    parser.add_argument("--no-reference", action="store_true", help="measure our loop only")
    parser.add_argument("--markdown", default=None, help="append the result row to this markdown file")
    parser.add_argument("--out", default=None, help="work directory (default: a temporary one)")
    args = parser.parse_args()
    args.seq_len = args.seq_len or (64 if args.tiny else 4096)
    args.micro_batch_size = args.micro_batch_size or 4

    import torch

    from curation.train.config import TINY_LLAMA
    from curation.train.metrics import mfu

    on_gpu = args.device != "cpu" and torch.cuda.is_available()
    if not on_gpu and not args.tiny:
        print("the 1B measurement needs a CUDA GPU; skipped (use --tiny --device cpu for a CPU smoke run)")
        return
    args.device = "cuda" if on_gpu else "cpu"
    args.peak_tflops = args.peak_tflops or (989.0 if on_gpu else None)  # no MFU against a CPU
    if not on_gpu:
        torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    reference = not args.no_reference and "RANK" not in os.environ
    model_keys = dict(TINY_LLAMA if args.tiny else LLAMA_1B)
    if "RANK" in os.environ and not args.out:
        parser.error("under torchrun give --out, a folder every rank sees")
    out = Path(args.out or tempfile.mkdtemp(prefix="train_mfu-"))
    out.mkdir(parents=True, exist_ok=True)
    packed = pack_real_text(out, args.seq_len, tokens_per_step(args, world_size) * (args.steps + 1))
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "reference": []}
    for repeat in range(args.repeats):  # alternate which loop goes first; keep each one's best run
        order = ["ours", "reference"] if repeat % 2 == 0 else ["reference", "ours"]
        for name in order:
            if name == "ours":
                runs["ours"].append(run_ours(args, packed, model_keys, out / f"ours-{repeat}", world_size))
            elif reference:
                runs["reference"].append(run_reference(args, packed, model_keys))
            if on_gpu:
                torch.cuda.empty_cache()
    if rank != 0:
        return
    ours = max(runs["ours"], key=lambda r: r["tokens_per_s"])
    fpt = ours["flops_per_token"]
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "device": torch.cuda.get_device_name() if on_gpu else "cpu",
        "model": "tiny (2 layers, hidden 64)" if args.tiny else "Llama 1.1B (TinyLlama shapes)",
        "variant": variant(args, world_size),
        "params": ours["params"],
        "seq_len": args.seq_len,
        "world_size": world_size,
        "tokens_per_step": tokens_per_step(args, world_size),
        "flops_per_token": fpt,
        "peak_tflops": args.peak_tflops,
        "ours_tokens_per_s": round(ours["tokens_per_s"], 1),
        "ours_mfu": mfu(ours["tokens_per_s"], fpt, args.peak_tflops, world_size),
        "final_loss_ours": ours["final_loss"],
        "all_runs_tokens_per_s": {k: [round(r["tokens_per_s"], 1) for r in v] for k, v in runs.items()},
    }
    if runs["reference"]:
        ref = max(runs["reference"], key=lambda r: r["tokens_per_s"])
        result |= {
            "reference_tokens_per_s": round(ref["tokens_per_s"], 1),
            "reference_mfu": mfu(ref["tokens_per_s"], fpt, args.peak_tflops, 1),
            "ratio_ours_over_reference": round(ours["tokens_per_s"] / ref["tokens_per_s"], 3),
            "final_loss_reference": ref["final_loss"],
        }
    (out / "train_mfu.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(markdown_row(result))
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as f:
            f.write(markdown_row(result) + "\n")


if __name__ == "__main__":
    main()
