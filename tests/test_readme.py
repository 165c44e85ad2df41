"""The README's command lines use flags the commands really have (flags are generated from the configs)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from curation.cli import COMMANDS, load_stage
from curation.core.cli import stage_command

README = Path(__file__).resolve().parents[1] / "README.md"
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9.-]*")


def _command_lines(text: str) -> list[str]:
    """``curation ...`` lines of code blocks (continuations joined) and inline ``curation ...`` spans."""
    lines, in_block = [], False
    for raw in text.splitlines():
        if raw.startswith("```"):
            in_block = not in_block
            continue
        if in_block and raw.startswith("curation "):
            lines.append(raw.split("#")[0])
        elif in_block and lines and lines[-1].rstrip().endswith("\\"):
            lines[-1] = lines[-1].rstrip()[:-1] + " " + raw.split("#")[0]
    lines += re.findall(r"`(curation [^`]+)`", text)
    return lines


def _options(path: list[str]) -> set[str]:
    target = COMMANDS[path[0]] if len(path) == 1 else COMMANDS[path[0]][path[1]]
    names = {"--help"}
    for param in stage_command(load_stage(target)).params:
        if isinstance(param, click.Option):
            names.update(n for opt in (*param.opts, *param.secondary_opts) for n in opt.split("/"))
    return names


def test_readme_command_lines_use_real_flags() -> None:
    checked = 0
    for line in _command_lines(README.read_text()):
        words = line.split()
        if len(words) < 2 or words[1] not in COMMANDS:
            continue
        path = words[1:3] if isinstance(COMMANDS[words[1]], dict) else words[1:2]
        if isinstance(COMMANDS[words[1]], dict) and (len(path) < 2 or path[1] not in COMMANDS[path[0]]):
            continue  # the group itself, named in prose
        unknown = set(_FLAG.findall(line)) - _options(path)
        assert not unknown, (line, sorted(unknown))
        checked += 1
    assert checked >= 15
