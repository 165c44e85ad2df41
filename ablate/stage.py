"""`curation ablate --spec ablate.yaml`: proxy-model data ablations at equal tokens, several seeds.

Each variant x seed is one job: ``mix -> pack -> train -> eval``, through the stages' own Python API
(``Mix.call``, ``Pack.call``, ``Train.call``, ``Evaluate.call``), under ``<output>/jobs/<variant>/seed<k>/``.
The mixtures of all jobs are planned first, in this process, sharing one token cache (a spec mistake, such
as a variant too small for the budget, stops the ablation before any training); then the jobs run as units
of the stage runner: on Ray, one GPU per job when the cluster has GPUs, else ``threads_per_job`` CPUs. A
killed ablation resumes: finished jobs are skipped, an unfinished one resumes its pack, its training from
the last checkpoint and its evaluation. A job whose settings changed since starts over in a clean folder.

Outputs: ``results.json`` (the summary), ``results.md`` (tables: data per variant, mean ± std over seeds,
paired differences to the baseline with a 95% CI and whether they exceed seed noise, see
``curation.ablate.results``) and ``_run/learning_curves.png``.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from curation.ablate.results import compare_all, curves, job_metrics, markdown, plot_curves, result_tables
from curation.ablate.spec import AblateConfig, variant_mixture
from curation.core import io
from curation.core.config import fingerprint
from curation.core.errors import CurationError
from curation.core.schema import EXPORT_DIR, METRICS_FILE, TOKEN_CACHE_DIR
from curation.core.stage import Run, Stage, Unit, UnitResult
from curation.train.evaluation.stage import EvalOptions

JOBS_DIR = "jobs"
JOB_FILE = "job.json"
RESULTS_FILE = "results.json"
RESULTS_TABLE = "results.md"
CURVES_PLOT = "learning_curves.png"
MAX_MICRO_BATCH = 16


@dataclass(frozen=True)
class Job:
    """One variant x seed: the configs of its stages (paths included) and where they write."""

    variant: str
    seed: int
    folder: str
    mix: dict[str, Any]
    train: dict[str, Any]
    eval: dict[str, Any]
    device: str
    threads: int

    @property
    def key(self) -> str:
        return f"{self.variant}__seed{self.seed}"

    @property
    def fingerprint(self) -> str:
        runtime = ("executor", "workers", "ray_address", "token_cache", "storage_options")
        return fingerprint(
            {
                "mix": {k: v for k, v in self.mix.items() if k not in runtime},
                "train": self.train,
                "eval": self.eval,
            }
        )


def quiet() -> contextlib.AbstractContextManager[Any]:
    """A nested stage's printed results are progress for the ablation: stderr, not stdout."""
    return contextlib.redirect_stdout(sys.stderr)


def run_job(job: Job) -> UnitResult:
    """Pack, train and evaluate one job (its mixture is planned already); resumes what a kill left."""
    from curation.mixer.pack import Pack
    from curation.train.evaluation.stage import Evaluate
    from curation.train.metrics import read_metrics
    from curation.train.run import Train

    if job.device == "cpu":
        import torch

        torch.set_num_threads(job.threads)
    with quiet():
        Pack.call(manifest=job.mix["output"], output=io.join(job.folder, "pack"), executor="local")
        train = Train.call(**job.train)["summary"]
        evaluation = Evaluate.call(**job.eval)["summary"]
    curve = [r for r in read_metrics(io.join(job.train["output"], METRICS_FILE)) if "eval_bpb" in r]
    result = {
        "variant": job.variant,
        "seed": job.seed,
        "eval": evaluation,
        "curve": curve,
        "train_seconds": train["seconds"],
        "params": train["params"],
    }
    return UnitResult(outputs=[io.join(job.eval["output"], "eval.json")], result=result)


def _micro_batch(batch_sequences: int, wanted: int | None) -> int:
    if wanted is not None:
        return wanted
    return max(d for d in range(1, min(MAX_MICRO_BATCH, batch_sequences) + 1) if batch_sequences % d == 0)


class Ablate(Stage[AblateConfig]):
    """Data ablation: train the same proxy model on each variant of a mixture at equal tokens, several seeds,
    and compare held-out bits per byte and early-signal tasks."""

    name = "ablate"
    config_model = AblateConfig
    config_flags = ("--spec", "-s", "--config", "-c")

    @cached_property
    def plan(self) -> dict[str, Any]:
        """What the ablation derives from its config: the proxy, the budget, batch and schedule."""
        from curation.mixer.tokenizer import load_tokenizer, vocab_size
        from curation.train.proxy import proxy

        cfg = self.cfg
        size = proxy(cfg.proxy)
        vocab = vocab_size(load_tokenizer(cfg.tokenizer))
        seq_len = cfg.seq_len or size.seq_len
        batch = cfg.global_batch_tokens or size.global_batch_tokens
        if batch % seq_len:
            raise CurationError(f"global_batch_tokens {batch} is not a multiple of seq_len {seq_len}")
        tokens = cfg.tokens or size.tokens(vocab, cfg.tokens_per_param)
        steps = tokens // batch
        if steps < 1:
            raise CurationError(f"tokens {tokens:,} is less than one batch of {batch:,} tokens")
        schedule = (
            cfg.schedule.model_dump()
            if cfg.schedule
            else {
                "kind": "cosine",
                "lr": size.lr,
                "min_lr": size.lr / 10,
                "warmup_steps": max(1, steps // 20),
            }
        )
        return {
            "proxy": cfg.proxy,
            "model": None if cfg.init_model else size.model_config(seq_len),
            "params": None if cfg.init_model else size.params(vocab),
            "non_embedding_params": None if cfg.init_model else size.non_embedding_params(),
            "vocab_size": vocab,
            "seq_len": seq_len,
            "global_batch_tokens": batch,
            "micro_batch_size": _micro_batch(batch // seq_len, cfg.micro_batch_size),
            "steps": steps,
            "tokens_per_job": steps * batch,
            "schedule": schedule,
            "mixtures": {name: variant_mixture(cfg, name) for name in cfg.variants},
        }

    def resolved(self) -> dict[str, Any]:
        return self.plan

    def device(self) -> tuple[str, dict[str, float]]:
        """Where jobs run, and what each holds: one GPU when there are GPUs, else ``threads_per_job`` CPUs."""
        cfg = self.cfg
        gpus = 0
        if cfg.device != "cpu":
            if cfg.executor == "ray":
                import ray

                from curation.core.executor import ensure_ray

                ensure_ray(cfg.ray_address, cfg.workers)
                gpus = int(ray.cluster_resources().get("GPU", 0))
            else:
                import torch

                gpus = torch.cuda.device_count()
        if gpus:
            return "cuda", {"num_gpus": 1, "num_cpus": 1}
        if cfg.device == "cuda":
            raise CurationError("device 'cuda' requested but there is no GPU")
        return "cpu", {"num_cpus": cfg.threads_per_job}

    def jobs(self, device: str) -> list[Job]:
        cfg, plan = self.cfg, self.plan
        cache = cfg.token_cache or io.join(cfg.output, TOKEN_CACHE_DIR)
        steps = plan["steps"]
        curve_every = steps // cfg.eval.curve_points if cfg.eval.curve_points else 0
        out = []
        for name in cfg.variants:
            for seed in cfg.seeds:
                folder = io.join(cfg.output, JOBS_DIR, name, f"seed{seed}")
                mix = {
                    "output": io.join(folder, "mix"),
                    "tokenizer": cfg.tokenizer,
                    "seq_len": plan["seq_len"],
                    "total_tokens": plan["tokens_per_job"],
                    "seed": seed,
                    **plan["mixtures"][name],
                    "token_cache": cache,
                    "executor": cfg.executor,
                    "workers": cfg.workers,
                    "ray_address": cfg.ray_address,
                    "storage_options": cfg.storage_options,
                }
                train = {
                    "data": io.join(folder, "pack"),
                    "output": io.join(folder, "train"),
                    "model": {"name_or_path": cfg.init_model}
                    if cfg.init_model
                    else {"config": plan["model"]},
                    "max_steps": steps,
                    "global_batch_tokens": plan["global_batch_tokens"],
                    "micro_batch_size": plan["micro_batch_size"],
                    "schedule": plan["schedule"],
                    "seed": seed,
                    "checkpoint": {
                        "every_steps": steps // 4
                        if cfg.checkpoint_every_steps is None
                        else cfg.checkpoint_every_steps,
                        "keep_last": 1,
                    },
                    "eval": {
                        "sets": self.curve_sets(),
                        "every_steps": max(curve_every, 1) if curve_every else 0,
                        "max_bytes_per_set": cfg.eval.curve_max_bytes,
                        "batch_size": cfg.eval.batch_size,
                    },
                    "device": device,
                    "resume": True,
                    "log_every_steps": max(1, steps // 100),
                }
                evaluation = {
                    "model": io.join(folder, "train", EXPORT_DIR),
                    "output": io.join(folder, "eval"),
                    "evalsets": cfg.evalsets,
                    **cfg.eval.model_dump(include=set(EvalOptions.model_fields)),
                    "seq_len": plan["seq_len"],
                    "device": device,
                }
                out.append(Job(name, seed, folder, mix, train, evaluation, device, cfg.threads_per_job))
        return out

    def curve_sets(self) -> dict[str, list[str]]:
        """The bits-per-byte sets the learning curves follow: the evalsets' and the extra ones."""
        from curation.train.evaluation.evalsets import load_evalsets

        sets = dict(self.cfg.eval.sets)
        only = self.cfg.eval.only
        if self.cfg.evalsets:
            index = load_evalsets(self.cfg.evalsets)["sets"]
            sets = {name: [s["path"]] for name, s in index.items() if only is None or name in only} | sets
        return sets

    def run(self, run: Run) -> dict[str, Any]:
        from curation.mixer.manifest import Mix

        cfg, plan = self.cfg, self.plan
        device, resources = self.device()
        jobs = self.jobs(device)
        data: dict[str, dict[str, Any]] = {}
        for job in jobs:
            stamp = io.join(job.folder, JOB_FILE)
            if io.exists(stamp) and io.read_json(stamp)["fingerprint"] != job.fingerprint:
                io.remove_tree(job.folder)  # settings changed since: start the job over
            io.write_json(stamp, {"variant": job.variant, "seed": job.seed, "fingerprint": job.fingerprint})
            with quiet():
                mixed = Mix.call(**job.mix)["summary"]
            data.setdefault(job.variant, _data_summary(mixed))
        records = run.map(
            "jobs",
            [Unit(job.key, job) for job in jobs],
            run_job,
            resources=resources,
            description=f"ablation jobs ({device})",
            info=lambda r: f"{r.result['variant']} seed {r.result['seed']}",
        )
        results = [records[job.key]["result"] for job in jobs]
        summary = summarize(cfg, plan, data, results, device)
        io.write_json(io.join(cfg.output, RESULTS_FILE), summary)
        io.write_text(io.join(cfg.output, RESULTS_TABLE), markdown(summary))
        return summary

    def plot(self, stats: dict[str, Any], run: Run) -> None:
        plot_curves(stats["summary"], io.join(run.run_dir, CURVES_PLOT))

    def render(self, stats: dict[str, Any]) -> Any:
        from rich.console import Group

        from curation.mixer.manifest import table

        return Group(*(table(title, header, rows) for title, header, rows in result_tables(stats["summary"])))


def _data_summary(mixed: dict[str, Any]) -> dict[str, Any]:
    """What a variant's data offer (from its mix summary): documents, tokens, most epochs of a source."""
    return {
        "documents": sum(mixed["rows"].values()),
        "available_tokens": sum(mixed["available_tokens"].values()),
        "max_epochs": max(mixed["epochs"].values()),
    }


def summarize(
    cfg: AblateConfig,
    plan: dict[str, Any],
    data: dict[str, dict[str, Any]],
    results: list[dict[str, Any]],
    device: str,
) -> dict[str, Any]:
    by_variant: dict[str, dict[int, dict[str, float]]] = {}
    records: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for r in results:
        by_variant.setdefault(r["variant"], {})[r["seed"]] = job_metrics(r["eval"])
        records.setdefault(r["variant"], {})[r["seed"]] = r["curve"]
    return {
        "baseline": cfg.baseline_name,
        "proxy": cfg.proxy,
        "params": plan["params"] or results[0]["params"],
        "tokens_per_job": plan["tokens_per_job"],
        "steps": plan["steps"],
        "seeds": cfg.seeds,
        "device": device,
        "variants": {
            name: {"description": cfg.variants[name].description, "data": data[name]} for name in cfg.variants
        },
        "metrics": compare_all(by_variant, cfg.baseline_name),
        "curves": curves(records, plan["global_batch_tokens"]),
        "train_seconds": {r["variant"] + f"/seed{r['seed']}": r["train_seconds"] for r in results},
    }
