"""DCASE 2019 task 4 (domestic sound event detection) as the release ships it.

Layout under the dataset root::

    metadata/train/synthetic.tsv         filename  onset  offset  event_label   (strong)
    metadata/train/weak.tsv              filename  event_labels                 (weak, comma-separated)
    metadata/train/unlabel_in_domain.tsv filename                               (unlabeled)
    metadata/validation/validation.tsv   filename  onset  offset  event_label   (strong)
    audio/train/synthetic/  audio/train/weak/  audio/train/unlabel_in_domain/  audio/validation/

A strongly labelled clip without events is one row with empty onset, offset and
label. The class list comes from the metadata: the ten DCASE 2019 classes when they
match, otherwise the labels found (with a warning naming the difference), so a set
with its own classes in this layout works unchanged.

Real copies always miss files (YouTube takedowns). A file listed in the metadata
but absent is recorded in :attr:`Subset.missing` and left out, never an error; the
caller reports the count (and :func:`write_missing` lists them in a run directory).
"""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tfaudio.atomic import write_text
from tfaudio.errors import DatasetError

log = logging.getLogger(__name__)

DCASE2019_CLASSES = (
    "Alarm_bell_ringing", "Blender", "Cat", "Dishes", "Dog", "Electric_shaver_toothbrush",
    "Frying", "Running_water", "Speech", "Vacuum_cleaner",
)

#: subset -> (metadata file, audio folder, label kind)
SUBSETS = {
    "synthetic": ("metadata/train/synthetic.tsv", "audio/train/synthetic", "strong"),
    "weak": ("metadata/train/weak.tsv", "audio/train/weak", "weak"),
    "unlabeled": ("metadata/train/unlabel_in_domain.tsv", "audio/train/unlabel_in_domain", "none"),
    "validation": ("metadata/validation/validation.tsv", "audio/validation", "strong"),
}

Event = Tuple[float, float, str]


@dataclass
class Subset:
    """One subset: the clips present (metadata order) and their labels."""

    name: str
    kind: str  # strong | weak | none
    files: List[str] = field(default_factory=list)
    paths: List[Path] = field(default_factory=list)
    events: Dict[str, List[Event]] = field(default_factory=dict)  # strong: per clip
    labels: Dict[str, Tuple[str, ...]] = field(default_factory=dict)  # strong and weak: clip labels
    missing: List[Tuple[str, str]] = field(default_factory=list)  # (path, reason)


def _rows(path: Path, columns: Sequence[str]):
    """(line number, row dict) of a tab-separated file with a header holding ``columns``."""
    if not path.is_file():
        raise DatasetError(f"{path} not found: --data-dir must point at the DCASE 2019 task 4 folder "
                           f"(metadata/train, metadata/validation, audio/...)")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t")
        header = reader.fieldnames or []
        absent = [c for c in columns if c not in header]
        if absent:
            raise DatasetError(f"{path}: missing column(s) {absent}; found {header}")
        for row in reader:  # (csv skips blank lines; line_num counts them)
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue  # a line of empty fields
            yield reader.line_num, row


def read_strong(path) -> Tuple[List[str], Dict[str, List[Event]]]:
    """Files in order and their events; a row with empty onset/offset/label is a clip
    without events."""
    path = Path(path)
    files: List[str] = []
    events: Dict[str, List[Event]] = {}
    for line, row in _rows(path, ("filename", "onset", "offset", "event_label")):
        name = (row["filename"] or "").strip()
        if not name:
            raise DatasetError(f"{path}: line {line} has no filename")
        if name not in events:
            files.append(name)
            events[name] = []
        on, off, label = ((row[k] or "").strip() for k in ("onset", "offset", "event_label"))
        if not on and not off and not label:
            continue
        try:
            onset, offset = float(on), float(off)
        except ValueError:
            raise DatasetError(f"{path}: line {line} ({name}) has a non-numeric onset/offset "
                               f"{on!r}/{off!r}") from None
        if not label:
            raise DatasetError(f"{path}: line {line} ({name}) has an event without a label")
        if not 0 <= onset <= offset:
            raise DatasetError(f"{path}: line {line} ({name}) has onset {onset} after offset {offset}")
        events[name].append((onset, offset, label))
    return files, events


def read_weak(path) -> Tuple[List[str], Dict[str, Tuple[str, ...]]]:
    path = Path(path)
    files, labels = [], {}
    for line, row in _rows(path, ("filename", "event_labels")):
        name = (row["filename"] or "").strip()
        if not name:
            raise DatasetError(f"{path}: line {line} has no filename")
        raw = (row["event_labels"] or "").strip()
        if name in labels:
            raise DatasetError(f"{path}: line {line} lists {name} a second time")
        files.append(name)
        labels[name] = tuple(sorted({x.strip() for x in raw.split(",") if x.strip()}))
    return files, labels


def read_unlabeled(path) -> List[str]:
    path = Path(path)
    out = []
    for line, row in _rows(path, ("filename",)):
        name = (row["filename"] or "").strip()
        if not name:
            raise DatasetError(f"{path}: line {line} has no filename")
        out.append(name)
    return out


def read_subset(root, name: str) -> Subset:
    """Read one subset's metadata; files absent on disk go to ``missing``."""
    if name not in SUBSETS:
        raise DatasetError(f"unknown DCASE subset {name!r} (subsets: {', '.join(SUBSETS)})")
    root = Path(root)
    meta, audio, kind = SUBSETS[name]
    sub = Subset(name, kind)
    if kind == "strong":
        files, sub.events = read_strong(root / meta)
        sub.labels = {f: tuple(sorted({e[2] for e in ev})) for f, ev in sub.events.items()}
    elif kind == "weak":
        files, sub.labels = read_weak(root / meta)
    else:
        files = read_unlabeled(root / meta)
    for f in files:
        p = root / audio / f
        if p.is_file():
            sub.files.append(f)
            sub.paths.append(p)
        else:
            sub.missing.append((str(p), "listed in the metadata but not on disk"))
    if sub.missing:
        log.warning("%s: %d of %d %s clip(s) listed in %s are missing (skipped)",
                    root, len(sub.missing), len(files), name, meta)
    return sub


def class_list(subsets: Sequence[Subset], default: Sequence[str] = DCASE2019_CLASSES) -> List[str]:
    """The DCASE 2019 classes when the metadata uses only them, else the labels
    found, sorted, with a warning that names the difference."""
    found = sorted({lab for s in subsets for labs in s.labels.values() for lab in labs})
    extra = sorted(set(found) - set(default))
    if not extra:  # the default classes, or a subset of them (a small copy)
        return list(default)
    absent = sorted(set(default) - set(found))
    log.warning("this set's classes differ from DCASE 2019's: extra %s, absent %s; using the %d "
                "classes of its metadata", extra, absent, len(found))
    return found


@dataclass
class DcaseDataset:
    root: Path
    classes: List[str]
    subsets: Dict[str, Subset]

    @property
    def missing(self) -> List[Tuple[str, str]]:
        return [m for s in self.subsets.values() for m in s.missing]


def load_dcase(root, subsets: Sequence[str] = tuple(SUBSETS), classes: Optional[Sequence[str]] = None) -> DcaseDataset:
    """Read the given subsets of a DCASE 2019 task 4 folder."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"--data-dir {root} is not a folder")
    subs = {name: read_subset(root, name) for name in subsets}
    labelled = [s for s in subs.values() if s.kind != "none"]
    names = list(classes) if classes else class_list(labelled)
    known = set(names)
    for s in labelled:
        for f, labs in s.labels.items():
            unknown = [x for x in labs if x not in known]
            if unknown:
                raise DatasetError(f"{root / SUBSETS[s.name][0]}: {f} has label(s) {unknown} not in the "
                                   f"class list {names}")
    return DcaseDataset(root, names, subs)


def write_missing(path, missing: Sequence[Tuple[str, str]]) -> Path:
    """List skipped files (missing or unreadable) as ``path<TAB>reason`` lines."""
    path = Path(path)
    write_text(path, "path\treason\n" + "".join(f"{p}\t{r}\n" for p, r in missing))
    return path


def write_strong(path, files: Sequence[str], events: Dict[str, List[Event]]) -> None:
    """Write a strong-label TSV (event-less clips as a row with empty fields)."""
    lines = ["filename\tonset\toffset\tevent_label"]
    for f in files:
        evs = events.get(f, [])
        if not evs:
            lines.append(f"{f}\t\t\t")
        for on, off, lab in evs:
            lines.append(f"{f}\t{on:.3f}\t{off:.3f}\t{lab}")
    write_text(Path(path), "\n".join(lines) + "\n")
