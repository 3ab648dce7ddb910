"""The Quality-Net that ships with tfaudio (``exported_models/qualitynet/2``): the
default model of ``tfaudio-score``, found in a source checkout and in an installed
wheel alike. Its card is ``MODEL.md`` in that folder."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from tfaudio.export.versions import shipped_model

SHIPPED_VERSION = 2


def shipped_dir() -> Optional[Path]:
    """The shipped version folder, or None when this install lacks it."""
    return shipped_model("qualitynet", SHIPPED_VERSION)
