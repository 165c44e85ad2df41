"""Flags generated from a stage's config model: each key is written once, in the model.

A field becomes ``--key`` (underscores as dashes); a nested model's fields become ``--section.key``, and a
nested ``enabled`` switch is named after its section (``--minhash/--no-minhash``). Booleans are
``--x/--no-x``; lists repeat (``-i a -i b``); mappings take ``KEY=VALUE`` items, with dotted keys for nesting
and YAML values (``--presets pt.lid_threshold=0.7``), or one YAML/JSON mapping. Help comes from the field
descriptions. Every command also takes ``--config FILE`` (YAML); flags override it.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any, Literal, get_args, get_origin

import click
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from curation.core.config import load_config, set_dotted
from curation.core.errors import CurationError

ENABLED = "enabled"


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def leaves(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo, Any]]:
    """``(dotted key, field, annotation)`` of every settable leaf of a config model."""
    for name, info in model.model_fields.items():
        annotation = _strip_optional(info.annotation)
        key = f"{prefix}{name}"
        if _is_model(annotation):
            yield from leaves(annotation, f"{key}.")
        else:
            yield key, info, annotation


def _flag(key: str) -> str:
    parts = key.split(".")
    if parts[-1] == ENABLED and len(parts) > 1:
        parts = parts[:-1]
    return "--" + ".".join(p.replace("_", "-") for p in parts)


def _param_name(key: str) -> str:
    return key.replace(".", "__")


def _help(info: FieldInfo) -> str:
    text = info.description or ""
    if info.is_required():
        return text + " [required]"
    default = info.get_default(call_default_factory=True)
    if default not in (None, [], {}, ""):
        text += f" [default: {default}]"
    return text


def _cli_order(item: tuple[str, FieldInfo, Any]) -> int:
    """Required keys first, then what a stage computes, then how it runs (runtime keys)."""
    _, info, _ = item
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return 0 if info.is_required() else 2 if extra.get("runtime") else 1


def _dict_of_lists(annotation: Any) -> bool:
    args = get_args(annotation)
    return len(args) == 2 and get_origin(_strip_optional(args[1])) is list


def parse_mapping(items: tuple[str, ...], flag: str, accumulate: bool) -> dict[str, Any]:
    """``("a.b=1", "c=x")`` -> ``{"a": {"b": 1}, "c": "x"}``; an item may also be a whole YAML mapping.
    With ``accumulate`` a key given twice collects its values in a list."""
    out: dict[str, Any] = {}
    for item in items:
        if item.lstrip().startswith("{"):
            parsed = yaml.safe_load(item)
            if not isinstance(parsed, dict):
                raise CurationError(f"{flag} wants KEY=VALUE or a mapping, got '{item}'")
            out.update(parsed)
            continue
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise CurationError(f"{flag} wants KEY=VALUE, got '{item}'")
        value = yaml.safe_load(raw) if raw else ""
        if accumulate:
            out.setdefault(key, []).append(raw)
        else:
            set_dotted(out, key, value)
    return out


def _option(key: str, info: FieldInfo, annotation: Any) -> click.Parameter:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    name = _param_name(key)
    if extra.get("argument"):
        return click.Argument([name], required=False)
    flag = _flag(key)
    names = [flag, *([extra["short"]] if "short" in extra else []), name]
    help_text = _help(info)
    origin = get_origin(annotation)
    if annotation is bool:
        return click.Option([f"{flag}/--no-{flag[2:]}", name], default=None, help=help_text)
    if origin is list:
        (inner,) = get_args(annotation) or (str,)
        kind = inner if inner in (int, float) else str
        return click.Option(names, multiple=True, type=kind, help=help_text + " (repeatable)")
    if origin is dict:
        return click.Option(names, multiple=True, metavar="KEY=VALUE", help=help_text + " (repeatable)")
    if origin is Literal:
        return click.Option(names, type=click.Choice([str(a) for a in get_args(annotation)]), help=help_text)
    kind = annotation if annotation in (int, float) else str
    return click.Option(names, type=kind, default=None, help=help_text)


def overrides_from_flags(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """Flag values (click parameter names) as dotted config overrides; unset flags are left out."""
    out: dict[str, Any] = {}
    for key, _, annotation in leaves(model):
        value = values.get(_param_name(key))
        if value is None or value == ():
            continue
        if get_origin(annotation) is dict:
            value = parse_mapping(value, _flag(key), _dict_of_lists(annotation))
        elif get_origin(annotation) is list:
            value = list(value)
        out[key] = value
    return out


def stage_command(stage_cls: Any) -> click.Command:
    """A click command that loads ``stage_cls.config_model`` from ``--config`` and flags, then runs it."""
    model = stage_cls.config_model
    params: list[click.Parameter] = [
        click.Option([*stage_cls.config_flags, "config_file"], help="YAML config; flags override it.")
    ]
    params += [_option(*leaf) for leaf in sorted(leaves(model), key=_cli_order)]

    def callback(config_file: str | None, **values: Any) -> None:
        from curation.core.stage import run_stage

        cfg = load_config(model, config_file, overrides_from_flags(model, values))
        run_stage(stage_cls(cfg))

    doc = (stage_cls.__doc__ or "").strip()
    short = " ".join(doc.split("\n\n")[0].split())
    return click.Command(stage_cls.name, params=params, callback=callback, help=doc, short_help=short)
