"""Labelled clip classification tasks in three on-disk layouts.

* **folder per class**: ``root/<label>/*.wav``, optionally one level deeper as
  ``root/{train,dev|validation,test}/<label>/*.wav``;
* **Speech Commands** as it ships (v0.01 / v0.02): ``root/<word>/*.wav`` plus
  ``validation_list.txt`` and ``testing_list.txt`` (paths relative to the root);
  every clip not in a list is training data; ``_background_noise_`` is not a class;
* **CSV manifest**: a file with the columns ``path,label,split`` (split one of
  train, dev / validation, test; paths relative to the CSV's folder or absolute).

:func:`load_task` recognises the layout and returns a :class:`LabeledTask`: class
names (sorted) and ``{"train", "dev", "test"}`` tables with ``path`` and ``label``
(an index into the names). Without a dev split, a fixed share of every class's
training clips (chosen by a hash of the path relative to the task's folder, so it is
the same wherever the dataset lives) is held out.
A test or dev label that no training clip has is a :class:`DatasetError`.
"""
from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import pandas as pd

from tfaudio.audio import AUDIO_EXTENSIONS
from tfaudio.errors import DatasetError

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
SPLIT_ALIASES = {"train": "train", "training": "train", "dev": "dev", "valid": "dev", "validation": "dev",
                 "test": "test", "testing": "test"}
SPEECH_COMMANDS_EXCLUDED = ("_background_noise_",)


@dataclass
class LabeledTask:
    name: str
    layout: str
    classes: List[str]
    splits: Dict[str, pd.DataFrame]  # path, label (int)

    def sizes(self) -> Dict[str, int]:
        return {k: len(v) for k, v in self.splits.items()}


def _audio_files(folder: Path) -> List[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def _class_dirs(folder: Path, excluded=()) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in excluded)


def _rows_of_classes(folder: Path, excluded=()) -> pd.DataFrame:
    rows, empty, kept = [], [], []
    for d in _class_dirs(folder, excluded):
        files = _audio_files(d)
        (kept if files else empty).append(d.name)
        rows += [(str(f), d.name) for f in files]
    if empty and kept:
        log.warning("%s: class folder(s) with no audio files left out: %s; %d class(es) remain: %s",
                    folder, ", ".join(empty), len(kept), ", ".join(kept))
    return pd.DataFrame(rows, columns=["path", "name"])


def is_speech_commands(root) -> bool:
    root = Path(root)
    return (root / "validation_list.txt").is_file() and (root / "testing_list.txt").is_file()


def read_speech_commands(root) -> Dict[str, pd.DataFrame]:
    root = Path(root)
    table = _rows_of_classes(root, SPEECH_COMMANDS_EXCLUDED)
    if table.empty:
        raise DatasetError(f"{root}: no word folders with audio files")
    rel = [Path(p).relative_to(root).as_posix() for p in table["path"]]
    lists = {}
    for split, name in (("dev", "validation_list.txt"), ("test", "testing_list.txt")):
        entries = [line.strip() for line in (root / name).read_text().splitlines() if line.strip()]
        lists[split] = set(entries)
    split = ["test" if r in lists["test"] else "dev" if r in lists["dev"] else "train" for r in rel]
    table["split"] = split
    return {s: table[table["split"] == s][["path", "name"]].reset_index(drop=True) for s in SPLITS}


def read_class_folders(root) -> Dict[str, pd.DataFrame]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    subs = {SPLIT_ALIASES[p.name.lower()]: p for p in _class_dirs(root) if p.name.lower() in SPLIT_ALIASES}
    if subs:
        if "train" not in subs:
            raise DatasetError(f"{root}: has {sorted(p.name for p in subs.values())} folders but no train/")
        out = {s: _rows_of_classes(p) for s, p in subs.items()}
    else:
        out = {"all": _rows_of_classes(root)}
    if all(df.empty for df in out.values()):
        raise DatasetError(f"{root}: no class folders with audio files (expected root/<label>/*.wav)")
    return out


def read_manifest(csv) -> Dict[str, pd.DataFrame]:
    csv = Path(csv)
    try:
        df = pd.read_csv(csv)
    except Exception as exc:
        raise DatasetError(f"{csv}: cannot be read as CSV ({exc})") from exc
    missing = [c for c in ("path", "label", "split") if c not in df.columns]
    if missing:
        raise DatasetError(f"{csv}: missing column(s) {missing}; found {list(df.columns)} "
                           f"(a manifest has the columns path,label,split)")
    for col in ("path", "label", "split"):
        blank = df[df[col].isna() | (df[col].astype(str).str.strip() == "")]
        if len(blank):
            raise DatasetError(f"{csv}: row {blank.index[0] + 2} has an empty {col}")
    splits = df["split"].astype(str).str.strip().str.lower()
    bad = df[~splits.isin(list(SPLIT_ALIASES))]
    if len(bad):
        raise DatasetError(f"{csv}: row {bad.index[0] + 2} has unknown split {df.at[bad.index[0], 'split']!r} "
                           f"(train, dev, validation, test)")
    df = df.assign(split=splits.map(SPLIT_ALIASES), name=df["label"].astype(str).str.strip(),
                   path=[str(p if Path(p).is_absolute() else csv.parent / p) for p in df["path"].astype(str)])
    return {s: df[df["split"] == s][["path", "name"]].reset_index(drop=True) for s in SPLITS
            if (df["split"] == s).any()}


def _split_key(path: str, root: Optional[Path]) -> str:
    """The path a hold-out hashes: relative to the task's root (POSIX separators), so
    the split does not depend on where the dataset lives on disk."""
    if root is not None:
        try:
            return Path(path).resolve().relative_to(root).as_posix()
        except ValueError:
            pass
    return Path(path).as_posix()


def _hold_out(train: pd.DataFrame, fraction: float, root: Optional[Path] = None):
    """Every class's clips whose hash of the path (relative to ``root``) falls below
    ``fraction`` (at least one of a class with two or more clips) -> ``(train, dev)``."""
    score = pd.Series([zlib.crc32(_split_key(p, root).encode()) / 2**32 for p in train["path"]],
                      index=train.index)
    dev_idx = []
    for _, group in train.groupby("name"):
        s = score[group.index].sort_values()
        k = max(1 if len(group) > 1 else 0, int(round(fraction * len(group))))
        dev_idx += list(s.index[:k])
    dev = train.loc[sorted(dev_idx)].reset_index(drop=True)
    return train.drop(index=dev_idx).reset_index(drop=True), dev


def finish(name: str, layout: str, parts: Dict[str, pd.DataFrame], dev_fraction: float = 0.1,
           where: str = "") -> LabeledTask:
    """Hold out dev / test where missing (by a hash of each path relative to the task's
    folder, or the manifest's folder), check labels, number the classes."""
    root = None
    if where:
        w = Path(where).resolve()
        root = w if w.is_dir() else w.parent
    if "all" in parts:
        rest, test = _hold_out(parts.pop("all"), 0.2, root)
        parts = {"train": rest, "test": test}
    if "test" not in parts or parts["test"].empty:
        parts["train"], parts["test"] = _hold_out(parts["train"], 0.2, root)
    if "dev" not in parts or parts["dev"].empty:
        parts["train"], parts["dev"] = _hold_out(parts["train"], dev_fraction, root)
    train_names = set(parts["train"]["name"])
    if len(train_names) < 2:
        raise DatasetError(f"{where or name}: the training split has {len(train_names)} class(es); need at least 2")
    for split in ("dev", "test"):
        unknown = sorted(set(parts[split]["name"]) - train_names)
        if unknown:
            raise DatasetError(f"{where or name}: label(s) {unknown} of the {split} split do not occur in the "
                               f"training split")
    classes = sorted(train_names)
    index = {c: i for i, c in enumerate(classes)}
    splits = {s: parts[s].assign(label=parts[s]["name"].map(index).astype(int)).reset_index(drop=True)
              for s in SPLITS}
    for s in SPLITS:
        if splits[s].empty:
            raise DatasetError(f"{where or name}: the {s} split is empty")
    return LabeledTask(name, layout, classes, splits)


def load_task(path, dev_fraction: float = 0.1) -> LabeledTask:
    """A labelled task from a folder-per-class tree, a Speech Commands release or a
    CSV manifest (see the module docstring)."""
    p = Path(path)
    if not p.exists():
        raise DatasetError(f"{p}: no such folder or file")
    if p.is_file():
        if p.suffix.lower() != ".csv":
            raise DatasetError(f"{p}: a task is a folder (folder per class, Speech Commands) or a .csv manifest")
        return finish(p.stem, "manifest", read_manifest(p), dev_fraction, str(p))
    if is_speech_commands(p):
        return finish(p.name, "speech_commands", read_speech_commands(p), dev_fraction, str(p))
    return finish(p.name, "class_folders", read_class_folders(p), dev_fraction, str(p))
