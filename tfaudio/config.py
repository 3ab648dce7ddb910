"""Frozen dataclass configs: load a recipe, apply overrides, save beside results.

A system's configuration is a frozen dataclass whose fields are plain values or
nested frozen dataclasses. Recipes in ``pipelines/`` are JSON files holding a subset
of those fields (nested as the dataclasses are); command-line flags override the
recipe, and the fully resolved config is written as ``config.json`` next to every
checkpoint and export, which is what ``--resume``, ``eval`` and ``export`` read back.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, Mapping, Type, TypeVar

T = TypeVar("T")

def _pipelines_dir() -> Path:
    """The recipes: ``pipelines/`` beside the package in a source checkout (editable
    install), ``tfaudio/pipelines`` in an installed wheel."""
    here = Path(__file__).resolve().parent
    for cand in (here.parent / "pipelines", here / "pipelines"):
        if cand.is_dir():
            return cand
    return here / "pipelines"


PIPELINES_DIR = _pipelines_dir()


from tfaudio.errors import ConfigError  # noqa: F401  (re-exported)


def to_dict(cfg) -> dict:
    """Dataclass -> nested plain dict (tuples become lists, JSON friendly)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def _coerce(tp, value, where: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin is tuple:
        args = typing.get_args(tp)
        if args and args[-1] is Ellipsis:
            return tuple(_coerce(args[0], v, where) for v in value)
        return tuple(value)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where) if len(args) == 1 else value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp in (int, float, str, bool) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def from_dict(cls: Type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build ``cls`` from a (partial) nested dict; unknown keys are an error."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(
            f"{where or cls.__name__}: unknown field(s) {sorted(unknown)}; "
            f"valid: {sorted(names)}"
        )
    kwargs = {k: _coerce(hints[k], v, f"{where or cls.__name__}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # a dataclass's own validation
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def merge(cfg: T, overrides: Mapping[str, Any]) -> T:
    """Return ``cfg`` with nested ``overrides`` applied (dicts merge into dataclasses)."""
    base = to_dict(cfg)

    def deep(a: dict, b: Mapping) -> dict:
        out = dict(a)
        for k, v in b.items():
            if isinstance(v, Mapping) and isinstance(out.get(k), dict):
                out[k] = deep(out[k], v)
            else:
                out[k] = v
        return out

    return from_dict(type(cfg), deep(base, overrides))


def set_path(overrides: dict, dotted: str, value) -> dict:
    """``set_path(d, "train.epochs", 3)`` -> d["train"]["epochs"] = 3."""
    node = overrides
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return overrides


def parse_set_args(items) -> dict:
    """Parse ``--set key.sub=value`` items; values are JSON when they parse, else strings."""
    out: dict = {}
    for item in items or ():
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        set_path(out, key.strip(), value)
    return out


def resolve_recipe(name_or_path: str) -> Path:
    """A recipe given as a path, or as a name in ``pipelines/`` (``dfe/embedded``, with
    or without .json)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    for cand in (PIPELINES_DIR / name_or_path, PIPELINES_DIR / f"{name_or_path}.json"):
        if cand.is_file():
            return cand
    known = sorted(x.relative_to(PIPELINES_DIR).with_suffix("").as_posix()
                   for x in PIPELINES_DIR.glob("*/*.json"))
    raise ConfigError(f"recipe {name_or_path!r} not found (pipelines: {', '.join(known)})")


def load_json(path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from exc


def write_json_atomic(path, obj, indent: int = 2) -> None:
    """Write JSON to ``path`` atomically (see :mod:`tfaudio.atomic`)."""
    from tfaudio.atomic import write_json

    write_json(path, obj, indent=indent)


def load_recipe(name_or_path: str) -> dict:
    """A recipe's settings (keys starting with ``_`` are comments and are dropped)."""

    def strip(d):
        if isinstance(d, dict):
            return {k: strip(v) for k, v in d.items() if not k.startswith("_")}
        return d

    return strip(load_json(resolve_recipe(name_or_path)))
