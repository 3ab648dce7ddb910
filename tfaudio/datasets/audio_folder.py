"""Unlabelled audio: any folder tree of audio files, or a CSV list of them.

* a folder: every file below it whose ending libsndfile decodes (WAV, FLAC, OGG,
  ...; case-insensitive), in sorted order;
* a CSV file with a ``path`` column (paths relative to the CSV's folder or absolute).

Listed files are not opened here: decoding happens later, and files that cannot be
decoded are listed and skipped there (never silently).
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import pandas as pd

from tfaudio.audio import AUDIO_EXTENSIONS
from tfaudio.errors import DatasetError


def list_audio(source) -> Tuple[List[str], Path]:
    """``(paths, root)`` of a folder tree or a CSV list (``root``: the folder the
    relative paths are taken from)."""
    src = Path(source)
    if src.is_dir():
        paths = sorted(str(p) for p in src.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
        if not paths:
            raise DatasetError(f"{src}: holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
        return paths, src
    if src.is_file() and src.suffix.lower() == ".csv":
        try:
            df = pd.read_csv(src)
        except Exception as exc:
            raise DatasetError(f"{src}: cannot be read as CSV ({exc})") from exc
        if "path" not in df.columns:
            raise DatasetError(f"{src}: missing column 'path'; found {list(df.columns)}")
        empty = df[df["path"].isna()]
        if len(empty):
            raise DatasetError(f"{src}: row {empty.index[0] + 2} has an empty path")
        paths = [str(p if Path(p).is_absolute() else src.parent / p) for p in df["path"].astype(str)]
        if not paths:
            raise DatasetError(f"{src}: lists no files")
        return paths, src.parent
    if src.exists():
        raise DatasetError(f"{src}: expected a folder of audio files or a .csv list with a 'path' column")
    raise DatasetError(f"{src}: no such folder or file")
