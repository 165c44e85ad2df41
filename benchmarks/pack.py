"""Tokenize-and-pack throughput: `curation mix` + `curation pack` versus datatrove's DocumentTokenizer.

Same documents (all of ../shared/data/text/pt/machado_de_assis and ../shared/data/text/en), same tokenizer
(GPT-NeoX BPE test tokenizer), one process each. Ours plans one epoch of everything (weights = each
source's share of tokens) and packs fixed-length sequences with EOS, boundaries, interleaving and a seeded
shuffle; the reference tokenizes, appends EOS, shuffles documents and writes its .ds token file.
Reported: tokens per CPU-second of the process (= per core; CPU time, not wall time, because the 2-core
test machine is shared) and the ratio ours / reference. Ours runs the stages in-process (``Mix.call``,
``Pack.call``, local executor), so their times include each stage's run evidence (config, stats, plot).

    python benchmarks/pack.py [--repeat 2] [--seq-len 2048]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

DATA = Path(os.environ.get("CURATION_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
TOKENIZER = DATA / "tokenizers" / "dolma_test_tokenizers" / "gpt-neo-test-tokenizer.json"
SOURCES = {"pt": [str(DATA / "text" / "pt" / "machado_de_assis")], "en_replay": [str(DATA / "text" / "en")]}


def spec_dict(weights: dict[str, float], total_tokens: int, seq_len: int) -> dict:
    return {
        "tokenizer": str(TOKENIZER),
        "seq_len": seq_len,
        "total_tokens": total_tokens,
        "seed": 0,
        "executor": "local",
        "sources": {n: {"paths": p, "weight": weights[n], "max_epochs": 1} for n, p in SOURCES.items()},
    }


def run_ours(work: Path, seq_len: int) -> dict[str, float]:
    from curation.mixer.manifest import Mix, load_manifest
    from curation.mixer.pack import Pack
    from curation.mixer.schedule import largest_remainder

    cache = str(work / "token_cache")  # shared by the probe mix, the real mix and pack
    start = time.process_time()
    # a one-sequence probe mix tokenizes every file (exact counts, token cache): the cost of `curation mix`
    Mix.call(
        **spec_dict({"pt": 0.5, "en_replay": 0.5}, seq_len, seq_len),
        output=str(work / "probe"),
        token_cache=cache,
    )
    count_seconds = time.process_time() - start
    probe = load_manifest(str(work / "probe"))
    avail = {n: sum(f["tokens"] for f in e["files"]) for n, e in probe["sources"].items()}
    total = sum(avail.values())
    # one epoch: each source's weight is its share of the tokens, the budget all of them (whole sequences)
    seqs = {n: avail[n] // seq_len for n in avail}
    shares = largest_remainder(10**6, list(seqs.values()))
    weights = {n: s / 10**6 for n, s in zip(seqs, shares, strict=True)}
    spec = {**spec_dict(weights, sum(seqs.values()) * seq_len, seq_len), "allow_renormalize": True}
    Mix.call(**spec, output=str(work / "mix"), token_cache=cache)  # planning only: every file is cached
    manifest = load_manifest(str(work / "mix"))
    start = time.process_time()
    Pack.call(manifest=str(work / "mix"), output=str(work / "packed"), executor="local")
    pack_seconds = time.process_time() - start
    return {
        "tokens_counted": total,
        "tokens_packed": manifest["total_tokens"],
        "text_bytes": sum(f["text_bytes"] for e in probe["sources"].values() for f in e["files"]),
        "mix_seconds": count_seconds,
        "pack_seconds": pack_seconds,
    }


def run_reference(work: Path) -> dict[str, float]:
    from datatrove.data import Document
    from datatrove.pipeline.tokens import DocumentTokenizer

    from curation.mixer.sources import ReadOptions, load_documents, source_files

    docs = [
        Document(text=text, id=f"{name}-{i}-{j}")
        for name, paths in SOURCES.items()
        for i, path in enumerate(source_files(paths, name))
        for j, text in enumerate(load_documents(path, ReadOptions(name))[0])
    ]
    step = DocumentTokenizer(
        output_folder=str(work / "datatrove"),
        tokenizer_name_or_path=str(TOKENIZER),
        eos_token="<|endoftext|>",
        seed=0,
        shuffle_documents=True,
    )
    start = time.process_time()
    step.run(iter(docs), rank=0, world_size=1)
    seconds = time.process_time() - start
    tokens = sum(os.path.getsize(p) for p in (work / "datatrove").glob("*.ds")) // 2
    return {"tokens": tokens, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="Runs of each; the best is reported.")
    parser.add_argument("--seq-len", type=int, default=2048)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    ours, ref = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            ours.append(run_ours(Path(tmp), args.seq_len))
        with tempfile.TemporaryDirectory() as tmp:
            ref.append(run_reference(Path(tmp)))
    o = min(ours, key=lambda r: r["mix_seconds"] + r["pack_seconds"])
    r = min(ref, key=lambda r: r["seconds"])
    mix_rate = o["tokens_counted"] / o["mix_seconds"]
    pack_rate = o["tokens_packed"] / o["pack_seconds"]
    both_rate = o["tokens_packed"] / (o["mix_seconds"] + o["pack_seconds"])
    ref_rate = r["tokens"] / r["seconds"]
    print(
        f"documents: {', '.join(SOURCES)}; {o['text_bytes'] / 1e6:.1f} MB of text; tokenizer {TOKENIZER.name}"
    )
    rows = [
        ("ours mix (tokenize, exact counts, cache)", o["tokens_counted"], o["mix_seconds"], mix_rate),
        ("ours pack (streams, interleave, shards)", o["tokens_packed"], o["pack_seconds"], pack_rate),
        ("ours mix + pack", o["tokens_packed"], o["mix_seconds"] + o["pack_seconds"], both_rate),
        ("datatrove DocumentTokenizer", r["tokens"], r["seconds"], ref_rate),
    ]
    for name, tokens, seconds, rate in rows:
        print(f"{name:42s} {tokens:>10,} tokens {seconds:7.2f} s {rate:>10,.0f} tokens/s/core")
    print(f"ratio ours mix+pack / datatrove: {both_rate / ref_rate:.2f}x")


if __name__ == "__main__":
    main()
