"""The `curation` command: one sub-command per stage, its flags generated from the stage's config.

Stage modules are imported only when their command is used (or listed by ``--help``), and keep their heavy
imports (torch, Ray, pyarrow...) inside functions, so the command starts fast. A ``CurationError`` (a
mistake a user can make) is printed as one line on stderr and exits 2.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click
from rich.console import Console

from curation import __version__
from curation.core.errors import CurationError

# command -> "module:Stage" (a nested mapping is a command group)
COMMANDS: dict[str, Any] = {
    "build": "curation.builder.stage:Build",
    "score": "curation.filters.score:Score",
    "filter": "curation.filters.where:Filter",
    "classifier": {
        "train": "curation.filters.training:ClassifierTrain",
        "annotate": "curation.filters.annotate:Annotate",
    },
    "presets": {"fit": "curation.filters.heuristics.fit:PresetsFit"},
    "dedup": "curation.dedup.stage:Dedup",
    "inventory": "curation.mixer.inventory:Inventory",
    "mix": "curation.mixer.manifest:Mix",
    "pack": "curation.mixer.pack:Pack",
    "vocab": {
        "report": "curation.mixer.fertility:VocabReport",
        "extend": "curation.train.extend:VocabExtend",
    },
    "train": "curation.train.run:Train",
    "export": "curation.train.export:Export",
    "evalsets": "curation.train.evaluation.evalsets:EvalSetsStage",
    "eval": "curation.train.evaluation.stage:Evaluate",
    "ablate": "curation.ablate.stage:Ablate",
    "plan": "curation.ablate.plan:Plan",
    "report": "curation.report.stage:Report",
    "demo": "curation.demo:Demo",
}
GROUP_HELP = {
    "classifier": "Train classifiers and label documents with an LLM judge.",
    "presets": "Fit language presets (heuristic thresholds, stop words) on reference text.",
    "vocab": "Measure tokenizer fertility per language; extend a tokenizer and model for the target language.",
}


def load_stage(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


class StageGroup(click.Group):
    """Commands made from stage classes on first use."""

    def __init__(self, name: str, commands: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.targets = commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.targets)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        from curation.core.cli import stage_command

        target = self.targets.get(name)
        if target is None:
            return None
        if isinstance(target, dict):
            return StageGroup(name, target, help=GROUP_HELP.get(name), no_args_is_help=True)
        return stage_command(load_stage(target))


app = StageGroup(
    "curation",
    COMMANDS,
    help="Common Crawl -> target-language corpus -> continued pretraining.",
    no_args_is_help=True,
)
app = click.version_option(__version__, prog_name="curation")(app)


def main(argv: list[str] | None = None) -> None:
    try:
        app.main(argv, prog_name="curation", standalone_mode=False)
    except CurationError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except click.exceptions.Abort:
        Console(stderr=True).print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
