"""Sub-commands of ``curation`` from ``filters``: score, filter, classifier train, classifier annotate.

Every flag is also a key of the command's YAML ``--config`` (flags win); heavy imports happen inside.
"""

from __future__ import annotations

from typing import Annotated

import typer

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="YAML config; flags override it.")]
InputOpt = Annotated[list[str] | None, typer.Option("--input", "-i", help="Parquet shards, dirs or globs.")]
OutputOpt = Annotated[str | None, typer.Option("--output", "-o", help="Output directory.")]


def score(
    input: InputOpt = None,
    output: OutputOpt = None,
    classifier: Annotated[
        list[str] | None,
        typer.Option(help="[TASK=]model dir from `classifier train`, fastText .bin/.ftz, HF dir or hub id."),
    ] = None,
    badwords: Annotated[list[str] | None, typer.Option(help="Directory of LDNOOBW-style word lists.")] = None,
    badword_lang: Annotated[
        str | None, typer.Option(help="List language for all docs (default: lang).")
    ] = None,
    text_col: Annotated[str | None, typer.Option(help="Column holding the text.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Texts per transformers batch.")] = None,
    device: Annotated[str | None, typer.Option(help="cuda or cpu (default: cuda when available).")] = None,
    executor: Annotated[str | None, typer.Option(help="ray (default: actor pool) or local.")] = None,
    workers: Annotated[int | None, typer.Option(help="Scoring actors (default: CPUs, or GPUs).")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Existing Ray cluster address.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Add <task>_score (and badword_count/badword_ratio) columns to Parquet shards."""
    from curation.build.config import load_model_config
    from filters.score_shards import ScoreConfig, run_score

    overrides = {
        "input": input or None,
        "output": output,
        "classifier": classifier or None,
        "badwords": badwords or None,
        "badword_lang": badword_lang,
        "text_col": text_col,
        "batch_size": batch_size,
        "device": device,
        "executor": executor,
        "workers": workers,
        "ray_address": ray_address,
    }
    run_score(load_model_config(ScoreConfig, config, overrides))


def filter_rows(
    input: InputOpt = None,
    output: OutputOpt = None,
    where: Annotated[str | None, typer.Option(help='SQL condition, e.g. "edu_score >= 3".')] = None,
    config: ConfigOpt = None,
) -> None:
    """Keep the rows of Parquet shards where an SQL condition on their columns holds."""
    from curation.build.config import load_model_config
    from filters.where import FilterConfig, run_filter

    run_filter(
        load_model_config(FilterConfig, config, {"input": input or None, "output": output, "where": where})
    )


classifier_app = typer.Typer(
    help="Train classifiers and label documents with an LLM judge.", no_args_is_help=True
)


@classifier_app.command("train")
def train(
    task: Annotated[str | None, typer.Option(help="Task name: the score column is <task>_score.")] = None,
    data: Annotated[str | None, typer.Option(help="Labelled Parquet (file/dir), CSV or JSONL.")] = None,
    output: OutputOpt = None,
    text_col: Annotated[str | None, typer.Option(help="Text column (default: text).")] = None,
    label_col: Annotated[str | None, typer.Option(help="Label column.")] = None,
    label_sql: Annotated[str | None, typer.Option(help="SQL expression for the label instead.")] = None,
    backend: Annotated[str | None, typer.Option(help="auto, tfidf, fasttext or transformers.")] = None,
    target: Annotated[str | None, typer.Option(help="auto, binary, classes or regression.")] = None,
    positive_label: Annotated[str | None, typer.Option(help="Label whose probability is the score.")] = None,
    test_fraction: Annotated[float | None, typer.Option(help="Held-out share (stratified).")] = None,
    seed: Annotated[int | None, typer.Option(help="Split and training seed.")] = None,
    encoder: Annotated[str | None, typer.Option(help="Encoder to fine-tune (backend transformers).")] = None,
    baseline_badwords: Annotated[
        list[str] | None, typer.Option(help="Word-list dirs: report the bad-word baseline on the same split.")
    ] = None,
    baseline_lang: Annotated[str | None, typer.Option(help="Language of the baseline word list.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Train a classifier; hold out a stratified split; write model, classifier.json, report.json, plot."""
    from curation.build.config import load_model_config
    from filters.training import TrainConfig, run_train

    overrides = {
        "task": task,
        "data": data,
        "output": output,
        "text_col": text_col,
        "label_col": label_col,
        "label_sql": label_sql,
        "backend": backend,
        "target": target,
        "positive_label": positive_label,
        "test_fraction": test_fraction,
        "seed": seed,
        "encoder": encoder,
        "baseline_badwords": baseline_badwords or None,
        "baseline_lang": baseline_lang,
    }
    run_train(load_model_config(TrainConfig, config, overrides))


@classifier_app.command("annotate")
def annotate(
    input: InputOpt = None,
    output: OutputOpt = None,
    task: Annotated[
        list[str] | None, typer.Option("--task", help="Tasks (prompt names): edu stem toxicity.")
    ] = None,
    sample_docs: Annotated[int | None, typer.Option(help="Documents to sample.")] = None,
    stratify_col: Annotated[str | None, typer.Option(help="Column to stratify the sample by.")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible API base URL (…/v1).")] = None,
    model: Annotated[str | None, typer.Option(help="Judge model name at the API.")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="Env variable with the API key.")] = None,
    judge_model: Annotated[str | None, typer.Option(help="Local causal LM directory as judge.")] = None,
    prompt_dir: Annotated[str | None, typer.Option(help="Directory of <task>.md prompt templates.")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Requests in flight.")] = None,
    max_retries: Annotated[int | None, typer.Option(help="Retries on 429/5xx/network errors.")] = None,
    backoff_seconds: Annotated[float | None, typer.Option(help="First back-off delay (doubles).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Ask an LLM judge for 0-5 scores on a stratified sample; write labelled.parquet (cached, resumable)."""
    from curation.build.config import load_model_config
    from filters.annotate import AnnotateConfig, run_annotate

    overrides = {
        "input": input or None,
        "output": output,
        "tasks": task or None,
        "sample_docs": sample_docs,
        "stratify_col": stratify_col,
        "seed": seed,
        "base_url": base_url,
        "model": model,
        "api_key_env": api_key_env,
        "judge_model": judge_model,
        "prompt_dir": prompt_dir,
        "concurrency": concurrency,
        "max_retries": max_retries,
        "backoff_seconds": backoff_seconds,
    }
    run_annotate(load_model_config(AnnotateConfig, config, overrides))


def register(app: typer.Typer) -> None:
    app.command("score")(score)
    app.command("filter")(filter_rows)
    app.add_typer(classifier_app, name="classifier")
