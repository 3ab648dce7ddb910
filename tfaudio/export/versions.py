"""Version folders (TensorFlow-free, so LiteRT-only commands can use it).

* :func:`latest_version`: the newest complete ``<model>/<version>`` folder;
  :func:`next_version`: the number a new export takes (TF Serving's convention).
* Shipped models: version folders under ``exported_models/`` committed with the code
  and installed with the package (a wheel carries them as ``tfaudio/exported_models``),
  so a command can use them right after install. A system names the version it
  ships; :func:`shipped_model` only finds the folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional


def shipped_root() -> Path:
    """``exported_models/`` beside the package in a source checkout (editable
    install), ``tfaudio/exported_models`` in an installed wheel."""
    here = Path(__file__).resolve().parent.parent  # the tfaudio package
    for cand in (here.parent / "exported_models", here / "exported_models"):
        if cand.is_dir():
            return cand
    return here / "exported_models"


def shipped_model(name: str, version: int) -> Optional[Path]:
    """The shipped version folder of ``name``, or None when this install lacks it."""
    path = shipped_root() / name / str(int(version))
    return path if (path / "saved_model.pb").is_file() else None


def version_folders(model_dir, require: Optional[str] = None) -> List[Path]:
    """Integer-named folders of ``model_dir`` (those holding ``require`` if given),
    oldest first; hidden temporaries of running exports are never seen."""
    model_dir = Path(model_dir)
    found = [p for p in model_dir.glob("*") if p.is_dir() and p.name.isdigit()
             and (require is None or (p / require).exists())]
    return sorted(found, key=lambda p: int(p.name))


def latest_version(model_dir, require: str = "saved_model.pb") -> Optional[Path]:
    """The highest-numbered complete version folder of ``model_dir`` (one holding
    ``require``), or None."""
    found = version_folders(model_dir, require)
    return found[-1] if found else None


def next_version(model_dir) -> int:
    """1 + the highest integer version folder, complete or not (a new export never
    reuses a number)."""
    found = version_folders(model_dir)
    return int(found[-1].name) + 1 if found else 1


def latest_export(system: str, what: str, base="exported_models") -> Path:
    """The newest complete export of ``system`` under ``base/<system>`` (the default
    model of an inference command); an :class:`~tfaudio.errors.ExportError` naming
    ``what`` and how to make one when there is none."""
    from tfaudio.errors import ExportError

    folder = Path(base) / system
    newest = latest_version(folder)
    if newest is None:
        raise ExportError(f"no exported {what} under {folder}; pass --model or run "
                          f"tfaudio-export {system}")
    return newest
