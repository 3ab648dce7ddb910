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
import shutil
import tempfile
from pathlib import Path
from typing import Callable

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


def build_once(final: Path, marker: str, build: Callable[[Path], None],
               force: bool = False) -> Path:
    """Build an embedded dataset at ``final`` once: ``build(tmp)`` writes it into a
    temporary sibling folder, a ``DONE`` file (holding ``marker``) is added and the
    folder is renamed into place, so an interrupted build never leaves half a set.

    ``force`` rebuilds a finished set (the old one is replaced only once the new one
    is complete). When another process finishes the same set first, its copy is kept
    and this build is discarded. Returns ``final``."""
    final = Path(final)
    if (final / "DONE").exists() and not force:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        build(tmp)
        (tmp / "DONE").write_text(marker + "\n")
        if final.exists() and (force or not (final / "DONE").exists()):
            old = final.parent / f".{final.name}.old-{os.getpid()}"
            os.replace(final, old)  # a damaged or forced-out set
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "DONE").exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # a concurrent builder finished first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
