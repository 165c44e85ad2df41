"""`curation dedup`: flags mirror the config keys (``--num-perm`` is ``minhash.num_perm``)."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command(name="dedup")(dedup)


def dedup(
    input: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="Parquet shards, globs or directories.")
    ] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Output directory.")] = None,
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="YAML config; flags override it.")
    ] = None,
    keep: Annotated[
        str | None, typer.Option(help="Survivor policy: longest (default), latest, highest:<column>.")
    ] = None,
    write_removed: Annotated[
        bool | None, typer.Option("--write-removed/--no-write-removed", help="Also write removed docs.")
    ] = None,
    exact: Annotated[
        bool | None, typer.Option("--exact/--no-exact", help="Exact normalised-text dedup.")
    ] = None,
    url: Annotated[
        bool | None, typer.Option("--url/--no-url", help="URL dedup (keeps the latest crawl).")
    ] = None,
    minhash: Annotated[
        bool | None, typer.Option("--minhash/--no-minhash", help="MinHash near-dedup.")
    ] = None,
    threshold: Annotated[float | None, typer.Option(help="MinHash Jaccard threshold (0.7).")] = None,
    num_perm: Annotated[int | None, typer.Option(help="MinHash permutations (128).")] = None,
    bands: Annotated[int | None, typer.Option(help="LSH bands (default: optimal for the threshold).")] = None,
    rows: Annotated[int | None, typer.Option(help="LSH rows per band (with --bands).")] = None,
    word_ngram: Annotated[int | None, typer.Option(help="Words per shingle (5).")] = None,
    char_ngram: Annotated[
        int | None, typer.Option(help="Characters per shingle, no-space scripts (5).")
    ] = None,
    shingle: Annotated[str | None, typer.Option(help="auto (default), word or char.")] = None,
    verify: Annotated[
        bool | None, typer.Option("--verify/--no-verify", help="Check candidate pairs by exact Jaccard.")
    ] = None,
    partitions: Annotated[
        int | None, typer.Option(help="Hash partitions per shuffle (default: by size).")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Parallel tasks (default: all CPUs).")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Existing Ray cluster address.")] = None,
    executor: Annotated[str | None, typer.Option(help="ray (default) or local (in-process).")] = None,
    stop_after: Annotated[str | None, typer.Option(help="Stop after this stage (resume later).")] = None,
) -> None:
    """Remove exact, same-URL and MinHash near-duplicate documents across all shards."""
    from curation.dedup.config import load_dedup_config
    from curation.dedup.run import run_dedup

    cfg = load_dedup_config(
        config,
        {
            "input": input or None,
            "output": output,
            "keep": keep,
            "write_removed": write_removed,
            "exact.enabled": exact,
            "url.enabled": url,
            "minhash.enabled": minhash,
            "minhash.threshold": threshold,
            "minhash.num_perm": num_perm,
            "minhash.bands": bands,
            "minhash.rows": rows,
            "minhash.word_ngram": word_ngram,
            "minhash.char_ngram": char_ngram,
            "minhash.shingle": shingle,
            "minhash.verify": verify,
            "partitions": partitions,
            "workers": workers,
            "ray_address": ray_address,
            "executor": executor,
            "stop_after": stop_after,
        },
    )
    run_dedup(cfg)
