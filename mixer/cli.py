"""Sub-commands of ``curation`` from ``mixer``: inventory, mix, pack.

Every flag is also a key of the command's YAML config (``--config``; for ``mix`` the spec itself); flags win.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="YAML config; flags override it.")]
OutputOpt = Annotated[str | None, typer.Option("--output", "-o", help="Output directory.")]
ExecutorOpt = Annotated[str | None, typer.Option(help="ray (default) or local (in-process).")]
WorkersOpt = Annotated[int | None, typer.Option(help="Parallel tasks (default: all CPUs).")]
RayAddressOpt = Annotated[str | None, typer.Option(help="Existing Ray cluster address.")]


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="left" if col in ("source", "phase", "lang", "score") else "right")
    for row in rows:
        table.add_row(*[f"{v:,}" if isinstance(v, int) else "" if v is None else str(v) for v in row])
    return table


def _flags(values: dict[str, Any]) -> dict[str, Any]:
    """A command's flag values as config overrides (``None`` = not given; ``--config`` itself left out)."""
    return {k: v for k, v in values.items() if k != "config"}


def inventory(
    input: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="Parquet/JSONL/txt files, dirs, globs.")
    ] = None,
    tokenizer: Annotated[
        str | None, typer.Option(help="Tokenizer: .json, .model, HF dir or cached hub id.")
    ] = None,
    output: OutputOpt = None,
    text_column: Annotated[str | None, typer.Option(help="Column holding the text.")] = None,
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    ray_address: RayAddressOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Token counts per source (folder), language and score bucket: a table and inventory.parquet."""
    flags = _flags(locals())
    from curation.build.config import load_model_config
    from mixer.inventory import InventoryConfig, run_inventory

    overrides = {**flags, "input": input or None}
    cfg = load_model_config(InventoryConfig, config, overrides)
    table = run_inventory(cfg)
    Console().print(_table(f"inventory ({cfg.output})", table.columns, [list(r) for r in table.iter_rows()]))


def mix(
    spec: Annotated[str, typer.Option("--spec", "-s", help="Mixture spec (YAML).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Directory for manifest.json.")],
    tokenizer: Annotated[str | None, typer.Option(help="Override the spec's tokenizer.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the spec's seed.")] = None,
    total_tokens: Annotated[int | None, typer.Option(help="Override the spec's total_tokens.")] = None,
    seq_len: Annotated[int | None, typer.Option(help="Override the spec's seq_len.")] = None,
    allow_renormalize: Annotated[
        bool | None, typer.Option("--allow-renormalize/--no-allow-renormalize", help="Cap short sources.")
    ] = None,
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    ray_address: RayAddressOpt = None,
) -> None:
    """Compile a mixture spec into manifest.json: exact tokens per phase and source."""
    flags = _flags(locals())
    from curation.io import atomic_write_text
    from curation.schema import SUMMARY_FILE
    from mixer.manifest import run_mix
    from mixer.spec import load_spec

    overrides = {k: v for k, v in flags.items() if k not in ("spec", "output")}
    manifest = run_mix(load_spec(spec, overrides), output)
    cols = ["phase", "source", "weight", "sequences", "tokens"]
    rows = [
        [p["name"], n, round(p["weights"][n], 4), p["sequences"][n], p["tokens"][n]]
        for p in manifest["phases"]
        for n in p["tokens"]
    ]
    console = Console(record=True)
    console.print(_table("plan per phase", cols, rows))
    cols = ["source", "files", "rows", "available_tokens", "tokens", "share", "epochs", "max_epochs"]
    rows = [
        [
            n,
            len(e["files"]),
            e["rows"],
            e["available_tokens"],
            e["tokens"],
            e["share"],
            e["epochs"],
            e["max_epochs"],
        ]
        for n, e in manifest["sources"].items()
    ]
    console.print(_table(f"{output}/manifest.json ({manifest['total_tokens']:,} tokens)", cols, rows))
    atomic_write_text(Path(output) / SUMMARY_FILE, console.export_text())


def pack(
    manifest: Annotated[
        str | None, typer.Option("--manifest", "-m", help="manifest.json (or its dir).")
    ] = None,
    output: OutputOpt = None,
    sequences_per_shard: Annotated[int | None, typer.Option(help="Sequences per token shard.")] = None,
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    ray_address: RayAddressOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Tokenize and write interleaved fixed-length sequences (memmap shards, pack.json, tokenizer/)."""
    flags = _flags(locals())
    from curation.build.config import load_model_config
    from mixer.pack import PackOptions, run_pack

    opts = load_model_config(PackOptions, config, flags)
    info = run_pack(opts)
    rows = [[n, info["tokens_per_source"][n]] for n in info["sources"]]
    Console().print(
        _table(
            f"{opts.output}: {info['num_sequences']:,} sequences of {info['seq_len']}",
            ["source", "tokens"],
            rows,
        )
    )


def register(app: typer.Typer) -> None:
    app.command()(inventory)
    app.command()(mix)
    app.command()(pack)
