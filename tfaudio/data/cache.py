"""Where tfaudio keeps generated/embedded data.

One function, :func:`cache_root`, shared by every system that builds data on first
use (the Quality-Net embedded set lives under ``cache_root() / "embedded" /
"qualitynet"``). Resolution order:

1. ``$TFAUDIO_CACHE`` if set and non-empty (used as is: it *is* the tfaudio root);
2. ``$XDG_CACHE_HOME/tfaudio`` if ``XDG_CACHE_HOME`` is set and non-empty;
3. ``~/.cache/tfaudio``.

The folder is not created here; callers create what they need below it.
"""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "TFAUDIO_CACHE"


def cache_root() -> Path:
    """Absolute path of the tfaudio cache folder (see module docstring for the order)."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    if xdg:
        return (Path(xdg).expanduser() / "tfaudio").resolve()
    return (Path.home() / ".cache" / "tfaudio").resolve()


def embedded_dir(*parts: str) -> Path:
    """``cache_root() / "embedded" / parts...`` (not created)."""
    return cache_root().joinpath("embedded", *parts)
