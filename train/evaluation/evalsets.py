"""`curation evalsets`: build the evaluation sets from the held-out sample data, deterministically.

Writes, from the held-out parts defined in ``curation.train.evaluation.heldout``::

    evalsets.json                    what is where: sets, tasks, the held-out files, sites and URLs
    bpb/prose_pt.jsonl.gz            held-out Machado de Assis works (one record per work)
    bpb/prose_en.jsonl.gz            held-out State of the Union addresses
    bpb/web_gold_en.jsonl.gz         gold article text of the held-out bench pages (also web_gold_de)
    tasks/lastword_{pt,en}.jsonl     LAMBADA / CALAME-PT style (``curation.train.evaluation.tasks``)
    tasks/continuation_{pt,en}.jsonl HellaSwag style

`curation eval --evalsets DIR` scores a model on all of them; a training corpus built from the bench leaves
out ``exclude_urls``.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from pydantic import Field

from curation.core import io
from curation.core.config import StageConfig
from curation.core.schema import TEXT
from curation.core.stage import Run, Stage, Unit, UnitResult
from curation.train.evaluation.heldout import PROSE, default_data_dir, heldout_web, prose_split
from curation.train.evaluation.tasks import CHANCE, CONTINUATION, LASTWORD, PRIMARY_METRIC, build_task

EVALSETS_FILE = "evalsets.json"
BPB_DIR = "bpb"
TASKS_DIR = "tasks"


class EvalSetsConfig(StageConfig):
    """Build the evaluation sets (held-out bits-per-byte texts and early-signal tasks) from the sample data."""

    data: str = Field(
        default_factory=default_data_dir, description="The sample data (default: $CURATION_DATA)."
    )
    examples_per_task: int = Field(500, gt=0, description="Most examples per task (a seeded random subset).")
    seed: int = Field(0, description="Seed of distractor choice, ending order and subsets.")


def _docs(plan: dict[str, Any]) -> list[str]:
    return [text for _, text in plan["docs"]]


def write_set(item: dict[str, Any], output: str) -> UnitResult:
    path = io.join(output, BPB_DIR, f"{item['name']}.jsonl.gz")
    lines = "".join(
        json.dumps({TEXT: text, "source": src}, ensure_ascii=False) + "\n" for src, text in item["docs"]
    )
    io.write_bytes(path, gzip.compress(lines.encode("utf-8"), mtime=0))
    texts = _docs(item)
    result = {
        "path": f"{BPB_DIR}/{item['name']}.jsonl.gz",
        "lang": item["lang"],
        "domain": item["domain"],
        "docs": len(texts),
        "bytes": sum(len(t.encode("utf-8")) for t in texts),
        "sources": [src for src, _ in item["docs"]],
    }
    return UnitResult(outputs=[path], result=result)


def write_task(item: dict[str, Any], output: str, examples: int, seed: int) -> UnitResult:
    path = io.join(output, TASKS_DIR, f"{item['name']}.jsonl")
    built = build_task(item["kind"], _docs(item), examples, seed)
    io.write_text(path, "".join(json.dumps(ex, ensure_ascii=False) + "\n" for ex in built))
    result = {
        "path": f"{TASKS_DIR}/{item['name']}.jsonl",
        "kind": item["kind"],
        "lang": item["lang"],
        "examples": len(built),
        "primary_metric": PRIMARY_METRIC[item["kind"]],
        "chance": CHANCE[item["kind"]],
    }
    return UnitResult(outputs=[path], result=result)


class EvalSetsStage(Stage[EvalSetsConfig]):
    """Build the evaluation sets (held-out bits-per-byte texts and early-signal tasks) from the sample data."""

    name = "evalsets"
    config_model = EvalSetsConfig

    def run(self, run: Run) -> dict[str, Any]:
        cfg = self.cfg
        prose = {lang: prose_split(cfg.data, lang)[1] for lang in PROSE}
        web = heldout_web(cfg.data)
        sets = [
            {
                "name": f"prose_{lang}",
                "lang": lang,
                "domain": "prose",
                "docs": [(str(p), p.read_text(encoding="utf-8", errors="replace")) for p in files],
            }
            for lang, files in prose.items()
        ]
        sets += [
            {"name": f"web_gold_{lang}", "lang": lang, "domain": "web", "docs": docs}
            for lang, docs in web.gold.items()
        ]
        tasks = [
            {**s, "name": f"{kind}_{s['lang']}", "kind": kind}
            for kind in (LASTWORD, CONTINUATION)
            for s in sets
            if s["domain"] == "prose"
        ]
        set_records = run.map("sets", [Unit(s["name"], s) for s in sets], write_set, cfg.output)
        task_records = run.map(
            "tasks",
            [Unit(t["name"], t) for t in tasks],
            write_task,
            cfg.output,
            cfg.examples_per_task,
            cfg.seed,
        )
        index = {
            "sets": {name: rec["result"] for name, rec in set_records.items()},
            "tasks": {name: rec["result"] for name, rec in task_records.items()},
            "heldout": {
                "prose": {lang: [str(p) for p in files] for lang, files in prose.items()},
                "web_sites": web.sites,
            },
            "exclude_urls": web.urls,
        }
        io.write_json(io.join(cfg.output, EVALSETS_FILE), index)
        return {
            "sets": {n: {"docs": s["docs"], "bytes": s["bytes"]} for n, s in index["sets"].items()},
            "tasks": {n: t["examples"] for n, t in index["tasks"].items()},
            "heldout_sites": len(web.sites),
            "exclude_urls": len(web.urls),
        }

    def render(self, stats: dict[str, Any]) -> Any:
        from curation.mixer.manifest import table

        s = stats["summary"]
        rows = [
            [name, "bits per byte", f"{v['docs']} docs, {v['bytes']:,} bytes"]
            for name, v in s["sets"].items()
        ]
        rows += [[name, "task", f"{n} examples"] for name, n in s["tasks"].items()]
        title = (
            f"{self.cfg.output}/{EVALSETS_FILE}: held out {s['heldout_sites']} bench sites "
            f"({s['exclude_urls']} URLs for training corpora to leave out)"
        )
        return table(title, ["set", "kind", "size"], rows)


def load_evalsets(path: str) -> dict[str, Any]:
    """The index of a `curation evalsets` output, with its paths made absolute."""
    from curation.core.errors import CurationError

    index_path = io.join(path, EVALSETS_FILE)
    if not io.exists(index_path):
        raise CurationError(f"not an evalsets folder (no {EVALSETS_FILE}): {path} (run `curation evalsets`)")
    index = io.read_json(index_path)
    for group in ("sets", "tasks"):
        for entry in index[group].values():
            entry["path"] = io.join(path, entry["path"])
    return index
