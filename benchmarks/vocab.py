"""Vocabulary extension on the demo scale (issue 17.4): fewer tokens per Portuguese byte, English unchanged,
and continued pretraining with the extended tokenizer against CPT with the original one.

Everything runs through the `curation` CLI with the demo's recipe (`curation.demo`: its train/held-out
split of the real text in ../shared/data, its tiny Llama, batch, schedules and held-out evaluation):

1. base tokenizer: a 4,096-id byte-level BPE trained on the demo's English training text only (an
   English-centric tokenizer; the demo's own tokenizer is trained on Portuguese and English, see the
   fertility table's second pair of rows);
2. English base: the demo's tiny Llama trained on English only (``--base-steps``, lr 3e-3; the step counts
   default to the demo's own);
3. `curation vocab extend`: ``--new-tokens`` BPE merges learned on the Portuguese training text, the English
   training text protected, one extended model per ``--inits`` method (sub-token mean, vocabulary mean,
   FOCUS); the same on the demo's shared tokenizer (tokenizer only);
4. `curation vocab report`: tokens per byte on the held-out Portuguese and English text (never learned from);
5. CPT per seed, one arm per model at equal training *tokens* (steps x 2,048 tokens; FLOPs per token, which
   grow with the output layer, are reported): the base with its tokenizer, and each extended model with its
   tokenizer and ``--warmup-steps`` embedding-only warm-up steps (new rows only) inside the same step budget. Data: the
   demo's cpt-pt-replay mixture (75% Portuguese training text, 25% English replay), mixed and packed with each
   arm's tokenizer, mix seed = train seed. Held-out bits per byte (tokenizer-independent) before and after.

    python benchmarks/vocab.py                               # the demo scale, 3 seeds
    python benchmarks/vocab.py --base-steps 40 --cpt-steps 20 --seeds 0 --out /tmp/v   # a smoke run

Writes ``<out>/vocab.json`` (every figure; the run behind benchmarks/results/vocab.md is kept as
benchmarks/results/vocab.json) and ``--results`` (markdown).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
from pathlib import Path
from typing import Any

from curation.demo import (
    BASE_LR,
    BASE_MODEL,
    BATCH_SEQUENCES,
    CPT_LR,
    SEQ_LEN,
    DemoConfig,
    Texts,
    curation,
    default_data_dir,
    eval_config,
    mix_and_pack,
    train_run,
    train_tokenizer,
)


def fertility(out: Path, tokenizers: dict[str, str], texts: Texts) -> dict[str, Any]:
    args = ["vocab", "report", "--output", str(out / "fertility"), "--executor", "local"]
    for name, path in tokenizers.items():
        args += ["--tokenizers", f"{name}={path}"]
    for name, files in (("pt_heldout", texts.pt_heldout), ("en_heldout", texts.en_heldout)):
        for p in files:
            args += ["--sets", f"{name}={p}"]
    curation(*args, "--max-bytes-per-set", "100000000")
    return json.loads((out / "fertility" / "fertility.json").read_text())


def extend(
    out: Path, name: str, texts: Texts, new_tokens: int, base: dict[str, str], init: str = "mean"
) -> dict[str, Any]:
    stats = out / name / "_run" / "stats.json"
    if stats.exists():  # a rerun of the script resumes
        return json.loads(stats.read_text())["summary"]
    args = ["vocab", "extend", "--output", str(out / name), "--new-tokens", str(new_tokens), "--init", init]
    for flag, value in base.items():
        args += [f"--{flag}", value]
    for p in texts.pt_train:
        args += ["--corpus", str(p)]
    for p in texts.en_train:
        if p.suffix == ".txt":
            args += ["--protect", str(p)]
    curation(*args)
    return json.loads(stats.read_text())["summary"]


def train(out: Path, name: str, *args: Any, **extra: Any) -> dict[str, Any]:
    """`train_run`, or the summary of the finished run of that name (a rerun of the script resumes)."""
    stats = out / f"train-{name}" / "_run" / "stats.json"
    if stats.exists():
        return json.loads(stats.read_text())["summary"]
    return train_run(out, name, *args, **extra)


def spread(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default_data_dir())
    parser.add_argument("--out", default="vocab-bench-out")
    parser.add_argument("--results", default=str(Path(__file__).parent / "results" / "vocab.md"))
    parser.add_argument("--new-tokens", type=int, default=1024)
    demo = DemoConfig.model_fields
    parser.add_argument("--base-steps", type=int, default=demo["base_steps"].default)
    parser.add_argument("--cpt-steps", type=int, default=demo["cpt_steps"].default)
    parser.add_argument("--warmup-steps", type=int, default=demo["cpt_steps"].default // 10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--inits", nargs="+", default=["mean", "vocab_mean"], help="one extended arm each")
    args = parser.parse_args()
    for key, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("TOKENIZERS_PARALLELISM", "false"),
        ("OMP_NUM_THREADS", "1"),
    ):
        os.environ.setdefault(key, value)
    out = Path(args.out).resolve()
    texts = Texts(Path(args.data))
    step_tokens = SEQ_LEN * BATCH_SEQUENCES

    en_tok = train_tokenizer(texts.en_train, out / "tokenizer-en" / "tokenizer.json")
    shared_tok = train_tokenizer(texts.pt_train + texts.en_train, out / "tokenizer-demo" / "tokenizer.json")
    en_paths = [str(p) for p in texts.en_train]
    pack = mix_and_pack(
        out, "base-en", en_tok, {"en": {"paths": en_paths, "weight": 1.0, "max_epochs": 4}},
        step_tokens * args.base_steps,
    )  # fmt: skip
    base = train(
        out, "base-en", pack, {"config": BASE_MODEL}, args.base_steps, BASE_LR, texts,
        eval=eval_config(texts, args.base_steps),
    )  # fmt: skip
    ext = {
        init: extend(out, f"extended-{init}", texts, args.new_tokens, {"model": base["export"]}, init)
        for init in args.inits
    }
    demo_ext = extend(out, "demo-extended", texts, args.new_tokens, {"tokenizer": shared_tok})
    fert = fertility(
        out,
        {
            "en-bpe": en_tok,
            "en-bpe+pt": str(out / f"extended-{args.inits[0]}"),
            "demo-bpe": shared_tok,
            "demo-bpe+pt": str(out / "demo-extended"),
        },
        texts,
    )

    pt_paths = [str(p) for p in texts.pt_train]
    sources = {
        "pt": {"paths": pt_paths, "weight": 0.75, "max_epochs": 4},
        "en_replay": {"paths": en_paths, "weight": 0.25, "max_epochs": 4},
    }
    warmup = {"embedding_warmup": {"steps": args.warmup_steps, "scope": "new_rows"}}
    arms = {"original": (en_tok, base["export"], {})}
    for init in args.inits:
        model_dir = str(out / f"extended-{init}")  # the extended tokenizer and model live together
        arms[f"extended-{init}"] = (model_dir, model_dir, warmup)
    runs: dict[str, dict[int, dict[str, Any]]] = {arm: {} for arm in arms}
    for seed in args.seeds:
        for arm, (tokenizer, model, extra) in arms.items():
            name = f"cpt-{arm}-s{seed}"
            data = mix_and_pack(out, name, tokenizer, sources, step_tokens * args.cpt_steps, seed)
            s = train(
                out,
                name,
                data,
                {"name_or_path": model},
                args.cpt_steps,
                CPT_LR,
                texts,
                seed=seed,
                eval=eval_config(texts, args.cpt_steps),  # before and after only
                **extra,
            )
            runs[arm][seed] = {
                key: s[key]
                for key in ("eval_bpb_before", "eval_bpb_after", "tokens_seen", "flops_per_token", "steps")
                if key in s
            }
            write(args, out, base, ext, demo_ext, fert, runs)  # after every run: a partial table if stopped


def write(
    args: argparse.Namespace,
    out: Path,
    base: dict[str, Any],
    ext: dict[str, dict[str, Any]],
    demo_ext: dict[str, Any],
    fert: dict[str, Any],
    runs: dict[str, dict[int, dict[str, Any]]],
) -> None:
    record = {
        "settings": {**vars(args), "seq_len": SEQ_LEN, "batch_sequences": BATCH_SEQUENCES, "cpt_lr": CPT_LR},
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "base_bpb": base["eval_bpb_after"],
        "extend": ext,
        "demo_extend": demo_ext,
        "fertility": fert["results"],
        "vocab_sizes": {name: t["vocab_size"] for name, t in fert["tokenizers"].items()},
        "runs": runs,
        "summary": {
            arm: {
                f"{lang}_bpb": spread([r["eval_bpb_after"][lang] for r in by_seed.values()])
                for lang in ("pt", "en")
            }
            for arm, by_seed in runs.items()
            if by_seed
        },
    }
    (out / "vocab.json").write_text(json.dumps(record, indent=1))
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(markdown(record))


def per_seed(values: dict[str, Any], lang: str) -> str:
    return ", ".join(f"{v['eval_bpb_after'][lang]:.4f}" for v in values.values())


def markdown(r: dict[str, Any]) -> str:
    s, fert, vocab = r["settings"], r["fertility"], r["vocab_sizes"]
    lines = [
        "# Vocabulary extension on the demo scale (issue 17.4)",
        "",
        f"Made by `python benchmarks/vocab.py --new-tokens {s['new_tokens']} --base-steps {s['base_steps']} "
        f"--cpt-steps {s['cpt_steps']} --warmup-steps {s['warmup_steps']} "
        f"--seeds {' '.join(map(str, s['seeds']))}` on {r['machine']}, {r['date']} "
        "(a shared, loaded machine: no speed figures here). Data: the text folders of ../shared/data with the "
        "demo's split by work (Portuguese: Machado de Assis, the last 3 works held out; English: State of the "
        "Union and inaugural addresses, the last 6 State of the Union addresses held out). Held-out text is "
        "never learned from, neither by the tokenizers nor by the models.",
        "",
        "## Tokens per byte on the held-out text (lower is better)",
        "",
        f"`+pt`: `curation vocab extend` with {s['new_tokens']} new tokens learned on the Portuguese training "
        "text, the English training text protected. `en-bpe` is the English base's tokenizer (trained on "
        "English only); `demo-bpe` is the demo's own tokenizer, trained on Portuguese and English.",
        "",
        "| tokenizer | ids | pt tokens/byte | pt vs its base | pt tokens/word | pt words split "
        "| en tokens/byte | en vs its base |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for base, ext in (("en-bpe", "en-bpe+pt"), ("demo-bpe", "demo-bpe+pt")):
        pt0, en0 = fert[base]["pt_heldout"], fert[base]["en_heldout"]
        for name in (base, ext):
            pt, en = fert[name]["pt_heldout"], fert[name]["en_heldout"]
            lines.append(
                f"| {name} | {vocab[name]:,} | {pt['tokens_per_byte']:.4f} | {pt['tokens'] / pt0['tokens'] - 1:+.1%} "
                f"| {pt['tokens_per_word']:.3f} | {pt['split_share']:.1%} | {en['tokens_per_byte']:.5f} "
                f"| {en['tokens'] / en0['tokens'] - 1:+.3%} ({en['tokens'] - en0['tokens']:+,} of {en0['tokens']:,}) |"
            )
    ext = next(iter(r["extend"].values()))
    lines += [
        "",
        f"Protected English training text: {ext['protect_identical_share']:.1%} of documents tokenized "
        f"identically ({ext['rejected_protected']:,} candidate merges passed over because English holds them). "
        f"Held-out pt: {fert['en-bpe']['pt_heldout']['bytes']:,} bytes; held-out en: "
        f"{fert['en-bpe']['en_heldout']['bytes']:,} bytes.",
        "",
        f"## Continued pretraining at equal training tokens (n = {min(len(v) for v in r['runs'].values())} seeds)",
        "",
        f"Both arms: {s['cpt_steps']} steps x {s['seq_len'] * s['batch_sequences']:,} tokens, cosine lr "
        f"{s['cpt_lr']}, 75% Portuguese training text + 25% English replay, mixed and packed with the arm's "
        "tokenizer (mix seed = train seed). An `extended-<init>` arm starts from the extended model whose new "
        "rows were initialised by `<init>` (`mean`: mean of the sub-token rows; `vocab_mean`: mean of all base "
        "rows; `focus`: FOCUS) and trains only the new embedding rows for its first "
        f"{s['warmup_steps']} steps (inside the budget). Equal tokens, not equal FLOPs: an extended arm's larger "
        "output layer costs more per token (column FLOPs/token) and each of its tokens carries more Portuguese "
        "text. English base (before CPT): "
        f"pt {r['base_bpb']['pt']:.4f}, en {r['base_bpb']['en']:.4f} bits per byte.",
        "",
        "| arm | FLOPs/token | pt bpb before | pt bpb after: mean ± sd | per seed | en bpb before "
        "| en bpb after: mean ± sd | per seed | en forgetting (after - base) |",
        "|---|---:|---:|---:|---|---:|---:|---|---:|",
    ]
    for arm, by_seed in r["runs"].items():
        if not by_seed:
            continue
        first = next(iter(by_seed.values()))
        pt, en = r["summary"][arm]["pt_bpb"], r["summary"][arm]["en_bpb"]
        lines.append(
            f"| {arm} | {first['flops_per_token']:,.0f} | {first['eval_bpb_before']['pt']:.4f} "
            f"| {pt['mean']:.4f} ± {pt['sd']:.4f} | {per_seed(by_seed, 'pt')} "
            f"| {first['eval_bpb_before']['en']:.4f} | {en['mean']:.4f} ± {en['sd']:.4f} "
            f"| {per_seed(by_seed, 'en')} | {en['mean'] - r['base_bpb']['en']:+.4f} |"
        )
    lines += [
        "",
        "Paired by seed (same seed: same mixture draw and data order), each extended arm minus `original`, bits "
        "per byte after CPT (negative: the extended arm is better; for English, a negative difference is less "
        "forgetting):",
        "",
        "| arm | pt: mean difference | per seed | en: mean difference | per seed | seeds better on both |",
        "|---|---:|---|---:|---|---:|",
    ]
    original = r["runs"]["original"]
    for arm, by_seed in r["runs"].items():
        seeds = [seed for seed in by_seed if seed in original]
        if arm == "original" or not seeds:
            continue
        diff = {
            lang: [by_seed[k]["eval_bpb_after"][lang] - original[k]["eval_bpb_after"][lang] for k in seeds]
            for lang in ("pt", "en")
        }
        both = sum(p < 0 and e <= 0 for p, e in zip(diff["pt"], diff["en"], strict=True))
        lines.append(
            f"| {arm} | {statistics.fmean(diff['pt']):+.4f} | {', '.join(f'{d:+.4f}' for d in diff['pt'])} "
            f"| {statistics.fmean(diff['en']):+.4f} | {', '.join(f'{d:+.4f}' for d in diff['en'])} "
            f"| {both} of {len(seeds)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
