"""`curation report RUN_DIR`: one self-contained HTML page for a run directory."""

from __future__ import annotations

from typing import Annotated

import typer


def report(
    run_dir: Annotated[
        str, typer.Argument(help="A stage output, or a folder holding several (build/, dedup/...).")
    ],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Folder for report.html and _run/ (default RUN_DIR/report)."),
    ] = None,
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
    samples_per_group: Annotated[
        int, typer.Option(help="Sample documents per language and drop reason.")
    ] = 3,
    sample_chars: Annotated[int, typer.Option(help="Characters shown per sample document.")] = 600,
    max_rows: Annotated[
        int, typer.Option(help="Documents read per stage for distributions and samples.")
    ] = 200_000,
) -> None:
    """Write RUN_DIR's report: funnel, languages, signals and scores with thresholds, dedup, mixture, training,
    samples and failures (sections without evidence say "not run")."""
    from curation.report.run import make_config, write_report

    cfg = make_config(
        run_dir=run_dir,
        output=output,
        title=title,
        samples_per_group=samples_per_group,
        sample_chars=sample_chars,
        max_rows=max_rows,
    )
    write_report(cfg)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
