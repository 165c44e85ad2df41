"""The `curation` command: thin wrappers that parse flags, load config and call the stage.

Each package registers its own sub-commands (``<package>.cli.register``); heavy imports happen inside the
commands so that ``curation --help`` stays fast. A ``CurationError`` is printed as one line and exits 2.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer
from rich.console import Console

from curation.errors import CurationError

app = typer.Typer(
    name="curation",
    help="Common Crawl -> target-language corpus -> continued pretraining.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Common Crawl -> target-language corpus -> continued pretraining."""


# Packages that add sub-commands; each module has ``register(app: typer.Typer) -> None``.
REGISTRARS: list[str] = ["curation.report.cli", "train.cli", "filters.cli", "dedup.cli", "mixer.cli"]


@app.command()
def build(
    lang: Annotated[
        list[str] | None, typer.Option("--lang", help="Target language ISO code(s), e.g. pt.")
    ] = None,
    input: Annotated[
        list[str] | None,
        typer.Option(
            "--input", "-i", help="WARC paths, globs, URLs (s3://, https://) or warc.paths.gz listings."
        ),
    ] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Output directory.")] = None,
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="YAML config; flags override it.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Take at most N files (per listing and overall).")] = None,
    cc_base_url: Annotated[str | None, typer.Option(help="Base URL for warc.paths.gz entries.")] = None,
    lid_model: Annotated[
        str | None, typer.Option(help="fastText LID model path (default: lid.176.ftz).")
    ] = None,
    keep_rejected: Annotated[
        bool | None, typer.Option("--keep-rejected/--no-keep-rejected", help="Also write dropped docs.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Parallel tasks (default: all CPUs).")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Existing Ray cluster address.")] = None,
    executor: Annotated[str | None, typer.Option(help="ray (default) or local (in-process).")] = None,
    preselect: Annotated[
        bool | None, typer.Option("--preselect/--no-preselect", help="Cheap language pre-selection.")
    ] = None,
    max_payload_bytes: Annotated[int | None, typer.Option(help="Skip larger HTTP payloads.")] = None,
    shard_max_docs: Annotated[int | None, typer.Option(help="Documents per output shard.")] = None,
    classifier: Annotated[
        list[str] | None, typer.Option("--classifier", help="[TASK=]model: add <task>_score to kept docs.")
    ] = None,
    badwords: Annotated[
        list[str] | None, typer.Option("--badwords", help="Folder of LDNOOBW lists: add badword_* columns.")
    ] = None,
) -> None:
    """Read WARCs, extract main text, identify language, filter, and write Parquet shards."""
    from curation.build.config import load_build_config
    from curation.build.run import run_build

    cfg = load_build_config(
        config,
        {
            "lang": lang or None,
            "input": input or None,
            "output": output,
            "limit": limit,
            "cc_base_url": cc_base_url,
            "lid_model": lid_model,
            "keep_rejected": keep_rejected,
            "workers": workers,
            "ray_address": ray_address,
            "executor": executor,
            "preselect.enabled": preselect,
            "max_payload_bytes": max_payload_bytes,
            "shard_max_docs": shard_max_docs,
            "classifier": classifier or None,
            "badwords": badwords or None,
        },
    )
    run_build(cfg)


def _register_packages() -> None:
    for module in REGISTRARS:
        importlib.import_module(module).register(app)


_register_packages()


def main() -> None:
    try:
        app(standalone_mode=False)
    except CurationError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors (typer vendors click) carry their own exit code
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
