"""UrbanSound8K as it ships: ``metadata/UrbanSound8K.csv`` + ``audio/fold1..fold10/``.

The CSV has the columns slice_file_name, fsID, start, end, salience, fold, classID,
class. Files are WAV at many rates (8-96 kHz), 16/24-bit, mono or stereo, up to 4 s;
:func:`tfaudio.audio.load_audio` resamples and mixes them down.

Splits: ``paper`` (folds 1-8 train, 9 dev, 10 test, as the DFE paper) or
``cv<K>`` for the official 10-fold cross-validation (fold K is the test fold, the
next fold — K+1, or 1 after 10 — is the dev fold, the other eight train).

Class vocabulary: read from the metadata, so a set in this layout with its own
classes works. Every ``classID`` must pair with one ``class`` name and every name
with one id (a conflict is a :class:`DatasetError` naming the rows). Ids need not be
0..K-1: they are sorted and *renumbered* 0..K-1 in that order (the ``label`` column
added by :func:`read_metadata`; with UrbanSound8K itself label == classID), and
:func:`class_vocabulary` gives the names by label. A vocabulary other than the ten
UrbanSound8K classes is logged as one warning, not an error.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import pandas as pd

from tfaudio.audio import AUDIO_EXTENSIONS
from tfaudio.errors import DatasetError  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)

CSV_COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")
CLASSES = (
    "air_conditioner",
    "car_horn",
    "children_playing",
    "dog_bark",
    "drilling",
    "engine_idling",
    "gun_shot",
    "jackhammer",
    "siren",
    "street_music",
)
FOLDS = tuple(range(1, 11))


@dataclass(frozen=True)
class Split:
    train: Tuple[int, ...]
    dev: Tuple[int, ...]
    test: Tuple[int, ...]


def split_folds(name: str) -> Split:
    """``paper`` -> 1-8 / 9 / 10; ``cvK`` -> test K, dev K+1 (mod 10), train the rest."""
    if name == "paper":
        return Split(tuple(range(1, 9)), (9,), (10,))
    if name.startswith("cv") and name[2:].isdigit() and 1 <= int(name[2:]) <= 10:
        k = int(name[2:])
        dev = k % 10 + 1
        return Split(tuple(f for f in FOLDS if f not in (k, dev)), (dev,), (k,))
    raise DatasetError(f"unknown split {name!r}: use 'paper' or 'cv1' ... 'cv10'")


def read_metadata(root) -> pd.DataFrame:
    """Read and validate ``metadata/UrbanSound8K.csv``; adds an absolute ``path`` column."""
    root = Path(root)
    csv = root / "metadata" / "UrbanSound8K.csv"
    if not csv.exists():
        raise DatasetError(
            f"{csv} not found: --data-dir must point at the UrbanSound8K folder that holds "
            f"metadata/UrbanSound8K.csv and audio/fold1..fold10"
        )
    try:
        df = pd.read_csv(csv)
    except Exception as exc:
        raise DatasetError(f"{csv}: cannot be read as CSV ({exc})") from exc
    missing = [c for c in ("slice_file_name", "fold", "classID", "class") if c not in df.columns]
    if missing:
        raise DatasetError(f"{csv}: missing column(s) {missing}; found {list(df.columns)}")
    for col in ("fold", "classID"):
        bad = df[pd.to_numeric(df[col], errors="coerce").isna()]
        if len(bad):
            row = bad.index[0]
            raise DatasetError(
                f"{csv}: row {row + 2} has a non-numeric {col} {df.at[row, col]!r}"
            )
        df[col] = df[col].astype(int)
    bad_fold = df[~df["fold"].isin(FOLDS)]
    if len(bad_fold):
        row = bad_fold.index[0]
        raise DatasetError(f"{csv}: row {row + 2} has unknown fold {df.at[row, 'fold']} (1-10)")
    blank = df[df["class"].isna() | (df["class"].astype(str).str.strip() == "")]
    if len(blank):
        raise DatasetError(f"{csv}: row {blank.index[0] + 2} has an empty class name")
    df["class"] = df["class"].astype(str)
    names = class_vocabulary(df, where=str(csv))
    ids = sorted(df["classID"].unique())
    df["label"] = df["classID"].map({cid: i for i, cid in enumerate(ids)}).astype(int)
    if ids != list(range(len(ids))):
        log.info("%s: classIDs %s renumbered 0..%d in that order", csv, ids, len(ids) - 1)
    if tuple(names) != CLASSES:
        log.warning("%s: %s", csv, describe_difference(names, ids))
    df["path"] = [
        str(root / "audio" / f"fold{f}" / name) for f, name in zip(df["fold"], df["slice_file_name"])
    ]
    return df


def class_vocabulary(df: pd.DataFrame, where: str = "metadata") -> List[str]:
    """Class names ordered by ``classID`` (so by label), from the ``classID``/``class`` pairs.

    An id paired with two names, or a name paired with two ids, is a
    :class:`DatasetError` naming the first row of each pairing (CSV line numbers,
    the header being line 1).
    """
    first_row: Dict[Tuple[int, str], int] = {}
    for row, cid, name in zip(df.index, df["classID"], df["class"].astype(str)):
        first_row.setdefault((int(cid), name), row + 2)
    by_id: Dict[int, List[Tuple[str, int]]] = {}
    by_name: Dict[str, List[Tuple[int, int]]] = {}
    for (cid, name), row in first_row.items():
        by_id.setdefault(cid, []).append((name, row))
        by_name.setdefault(name, []).append((cid, row))
    for cid, uses in sorted(by_id.items()):
        if len(uses) > 1:
            listing = ", ".join(f"{name!r} (row {row})" for name, row in sorted(uses, key=lambda u: u[1]))
            raise DatasetError(f"{where}: classID {cid} is paired with more than one class: {listing}")
    for name, uses in sorted(by_name.items()):
        if len(uses) > 1:
            listing = ", ".join(f"{cid} (row {row})" for cid, row in sorted(uses, key=lambda u: u[1]))
            raise DatasetError(f"{where}: class {name!r} is paired with more than one classID: {listing}")
    return [by_id[cid][0][0] for cid in sorted(by_id)]


def describe_difference(names: Sequence[str], ids: Sequence[int]) -> str:
    """One sentence on how a vocabulary differs from UrbanSound8K's ten classes."""
    parts = []
    renamed = [f"{cid}={name!r} (UrbanSound8K: {CLASSES[cid]!r})" for cid, name in zip(ids, names)
               if 0 <= cid < len(CLASSES) and CLASSES[cid] != name]
    beyond = [f"{cid}={name!r}" for cid, name in zip(ids, names) if not 0 <= cid < len(CLASSES)]
    absent = [c for i, c in enumerate(CLASSES) if i not in set(ids)]
    if renamed:
        parts.append("other names for ids " + ", ".join(renamed))
    if beyond:
        parts.append("ids outside 0-9 " + ", ".join(beyond))
    if absent:
        parts.append(f"{len(absent)} UrbanSound8K classes absent ({', '.join(absent)})")
    return (f"class vocabulary differs from UrbanSound8K's ten classes: {'; '.join(parts)}; "
            f"using the {len(names)} classes of the metadata: {', '.join(names)}")


def split_frame(df: pd.DataFrame, split: str = "paper", root="") -> Dict[str, pd.DataFrame]:
    """``{"train": df, "dev": df, "test": df}`` of a metadata table for a split name."""
    folds = split_folds(split)
    out = {}
    for part in ("train", "dev", "test"):
        sub = df[df["fold"].isin(getattr(folds, part))].reset_index(drop=True)
        if sub.empty:
            raise DatasetError(f"{root}: split {split!r} has no {part} clips (folds {getattr(folds, part)})")
        out[part] = sub
    return out


def load_split(root, split: str = "paper") -> Dict[str, pd.DataFrame]:
    """``{"train": df, "dev": df, "test": df}`` for a split name (see :func:`split_folds`)."""
    return split_frame(read_metadata(root), split, root)


def list_noises(noise_dir, names: Sequence[str] | None = None) -> List[Path]:
    """Audio files of a noise folder (NOISEX-92 style: one file per noise type).

    The noise type is the file stem (``babble.wav`` -> ``babble``). ``names`` picks a
    subset and must all exist.
    """
    noise_dir = Path(noise_dir)
    if not noise_dir.is_dir():
        raise DatasetError(f"noise folder {noise_dir} does not exist")
    files = sorted(p for p in noise_dir.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    if not files:
        raise DatasetError(f"noise folder {noise_dir} holds no audio files")
    if names:
        by_name = {p.stem: p for p in files}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise DatasetError(f"{noise_dir}: no noise named {unknown}; found {sorted(by_name)}")
        files = [by_name[n] for n in names]
    return files
