"""Where the commands find systems: each system package registers itself.

``tfaudio/systems/<name>/__init__.py`` holds one line,
``register("<name>", cli="tfaudio.systems.<name>.cli")``. Systems are found, not
listed: :func:`systems` imports every package below ``tfaudio.systems`` (cheap: a
system's ``__init__`` imports nothing heavy) and returns what they registered.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Dict

_SYSTEMS: Dict[str, str] = {}


def register(name: str, cli: str) -> None:
    """Register system ``name`` whose command-line module is ``cli`` (a module path
    exposing ``HELP``, ``add_<command>_args`` and the command functions)."""
    if _SYSTEMS.get(name, cli) != cli:
        raise RuntimeError(f"system {name!r} registered twice ({_SYSTEMS[name]} and {cli})")
    _SYSTEMS[name] = cli


def systems() -> Dict[str, str]:
    """``{name: cli module path}`` of every installed system, in name order."""
    import tfaudio.systems as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.ispkg:
            importlib.import_module(f"{pkg.__name__}.{info.name}")
    return dict(sorted(_SYSTEMS.items()))
