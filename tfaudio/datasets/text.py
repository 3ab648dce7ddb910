"""Text side files of the corpora (TIMIT's .PHN / .WRD / .TXT, IEMOCAP's EmoEvaluation)."""
from __future__ import annotations

from pathlib import Path
from typing import List

from tfaudio.errors import DatasetError


def read_lines(path) -> List[str]:
    """The lines of a UTF-8 text file; unreadable or undecodable is a DatasetError naming it."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8", errors="strict").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
