"""A run directory's config: written once by the first stage, checked by every later one.

Every system keeps ``<run-dir>/config.json`` = ``{"system": name, **config}``. The
first stage trained in a directory writes it; a later stage (or a resumed one) must
agree on the parts that make the stages of one directory comparable (a system names
them: its *invariants*, dotted keys such as ``"frontend"`` or ``"data.clip_seconds"``),
otherwise it is a :class:`RunDirError` that names the key and says to use another
``--run-dir``. Evaluation and export read the config back with :func:`load_config`,
so they need nothing from a system's training module.
"""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Type

from tfaudio.config import from_dict, write_json_atomic
from tfaudio.errors import RunDirError

CONFIG = "config.json"
_MISSING = object()


def _get(d: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return _MISSING
        d = d[part]
    return d


def _without(d: Any, dotted: Sequence[str], prefix: str = "") -> Any:
    """``d`` with the dotted keys ``dotted`` (below ``prefix``) removed."""
    if not isinstance(d, dict):
        return d
    return {k: _without(v, dotted, f"{prefix}{k}.") for k, v in d.items() if f"{prefix}{k}" not in dotted}


def read_config(run_dir) -> Optional[dict]:
    """The recorded ``config.json`` of ``run_dir`` as a dict, or None."""
    path = Path(run_dir) / CONFIG
    return json.loads(path.read_text()) if path.exists() else None


def record_config(run_dir, system: str, config: dict, invariants: Sequence[str], ignore: Sequence[str] = (),
                  what: str = "stages", update: Optional[Callable[[dict, dict], bool]] = None) -> dict:
    """Write ``run_dir/config.json`` unless it exists; if it does, each key of
    ``invariants`` (dotted keys ``ignore`` left out of the comparison) must equal the
    recorded one. ``update(old, new)``, where given, may first fill in what the
    recorded config may still take (it edits ``old`` and returns True, or raises
    :class:`RunDirError`); an updated config is written back. Returns what the
    directory records."""
    run_dir = Path(run_dir)
    new = {"system": system, **config}
    old = read_config(run_dir)
    if old is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(run_dir / CONFIG, new)
        return new
    changed = bool(update(old, new)) if update is not None else False
    check_invariants(run_dir, old, new, invariants, ignore, what)
    if changed:
        write_json_atomic(run_dir / CONFIG, old)
    return old


def check_invariants(run_dir, old: dict, new: dict, invariants: Sequence[str], ignore: Sequence[str] = (),
                     what: str = "stages") -> None:
    """The recorded config ``old`` and a stage's ``new`` one agree on the same system
    and on every key of ``invariants`` (see :func:`record_config`)."""
    if old.get("system", new.get("system")) != new.get("system"):
        raise RunDirError(f"{run_dir} holds a {old.get('system')!r} run, not {new.get('system')!r} "
                          f"(use another --run-dir)")
    for key in invariants:
        was, now = _without(_get(old, key), ignore, key + "."), _without(_get(new, key), ignore, key + ".")
        if was != now:
            raise RunDirError(f"{run_dir} was trained with a different {key} configuration; {what} of one "
                              f"directory must share it (use another --run-dir)")


def load_config(run_dir, system: str, cls: Type, label: str) -> Tuple[Any, Dict[str, Any]]:
    """``(config dataclass, other recorded keys)`` a run directory was trained with;
    ``label`` names the system in the error when there is none."""
    d = read_config(run_dir)
    if d is None:
        raise RunDirError(f"{run_dir} holds no trained {label} run (no config.json); train first")
    if d.pop("system", system) != system:
        raise RunDirError(f"{run_dir} holds another system's run, not {label}")
    names = {f.name for f in fields(cls)}
    extra = {k: d.pop(k) for k in list(d) if k not in names}
    return from_dict(cls, d), extra
