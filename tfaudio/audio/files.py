"""Finding audio files in folder trees (any corpus layout: TIMIT's ``.WAV`` SPHERE
files, converted ``.WAV.wav`` copies, FLAC / OGG trees)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Sequence

from tfaudio.audio.io import AUDIO_EXTENSIONS


def strip_audio_ext(name: str) -> str:
    """``name`` without its audio extensions (``SA1.WAV.wav`` -> ``SA1``)."""
    while True:
        stem, ext = os.path.splitext(name)
        if ext.lower() in AUDIO_EXTENSIONS and stem:
            name = stem
        else:
            return name


def find_audio_files(root, exclude: Sequence = ()) -> List[Path]:
    """Audio files under ``root`` (recursive, sorted, hidden files skipped).

    Matches :data:`AUDIO_EXTENSIONS` case-insensitively, so TIMIT's ``SA1.WAV``
    (NIST SPHERE) and converted ``SA1.WAV.wav`` copies are found while ``.PHN``,
    ``.WRD`` and ``.TXT`` are not. Folders in ``exclude`` are not searched.
    """
    root = Path(root)
    excl = {os.path.abspath(e) for e in exclude}
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and os.path.abspath(os.path.join(dirpath, d)) not in excl)
        for f in filenames:
            if f.startswith("."):
                continue
            if os.path.splitext(f)[1].lower() in AUDIO_EXTENSIONS:
                found.append(Path(dirpath) / f)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())
