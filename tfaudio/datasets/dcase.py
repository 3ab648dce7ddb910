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

Strong labels are checked row by row: a non-numeric or negative onset, a zero-length
or reversed event (offset <= onset) and, when the clip length is known
(``clip_seconds``), an onset at or beyond the clip's end or an offset beyond it are
errors naming the file, line and column; with ``skip_bad`` the clip is skipped and
listed in :attr:`Subset.skipped` instead. Only an offset past the end by at most
``frame_seconds`` (inside the clip's last frame) is clamped to the end, and the count
of clamped events is logged in one line. With ``trained_labels_only`` a validation
label that no training clip carries is such an error too (the model would get an
output class without training data).
"""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tfaudio.atomic import write_text
from tfaudio.audio.io import AudioError, audio_info
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
    missing: List[Tuple[str, str]] = field(default_factory=list)  # (path, reason): not on disk
    skipped: List[Tuple[str, str]] = field(default_factory=list)  # (path, reason): bad labels
    lines: Dict[str, List[Tuple[int, str]]] = field(default_factory=dict)  # strong: (line, label) per clip


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


class LabelProblems:
    """Bad rows of one metadata file: ``(line, column, message)`` per clip, one error
    line (naming the file, line and column) or a list of skipped clips."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.by_clip: Dict[str, List[Tuple[int, str, str]]] = {}

    def add(self, clip: str, line: int, column: str, message: str) -> None:
        self.by_clip.setdefault(clip, []).append((line, column, message))

    def __bool__(self) -> bool:
        return bool(self.by_clip)

    @staticmethod
    def describe(clip: str, problem: Tuple[int, str, str]) -> str:
        line, column, message = problem
        return f"line {line} ({clip}), column '{column}': {message}"

    def raise_error(self) -> None:
        """One line: the first bad row (by line), and how many more there are."""
        items = sorted(((c, p) for c, ps in self.by_clip.items() for p in ps), key=lambda cp: cp[1][0])
        msg = f"{self.path}: {self.describe(*items[0])}"
        if len(items) > 1:
            msg += f"; and {len(items) - 1} more bad row(s)"
        raise DatasetError(msg + " (pass --skip-bad-files to skip such clips)")

    def skips(self) -> Dict[str, str]:
        """``{clip: reason}`` of every clip with a bad row."""
        return {clip: f"bad label in {self.path}: " + "; ".join(self.describe(clip, p) for p in ps)
                for clip, ps in self.by_clip.items()}


def read_strong(path, problems: Optional[LabelProblems] = None):
    """Files in order and their events; a row with empty onset/offset/label is a clip
    without events. A bad row raises :class:`DatasetError` (file, line, column), or is
    recorded in ``problems`` when given (its clip is then the caller's to skip).
    With ``problems`` the result has a third item: ``{clip: [(line, label)]}`` of the
    events in order (where each came from)."""
    path = Path(path)
    collect = problems is not None
    problems = problems if collect else LabelProblems(path)
    files: List[str] = []
    events: Dict[str, List[Event]] = {}
    lines: Dict[str, List[Tuple[int, str]]] = {}
    for line, row in _rows(path, ("filename", "onset", "offset", "event_label")):
        name = (row["filename"] or "").strip()
        if not name:
            raise DatasetError(f"{path}: line {line} has no filename")
        if name not in events:
            files.append(name)
            events[name] = []
            lines[name] = []
        on, off, label = ((row[k] or "").strip() for k in ("onset", "offset", "event_label"))
        if not on and not off and not label:
            continue
        bad = len(problems.by_clip.get(name, []))
        values = {}
        for column, raw in (("onset", on), ("offset", off)):
            try:
                values[column] = float(raw)
            except ValueError:
                problems.add(name, line, column, f"{column} {raw!r} is not a number")
                continue
            if values[column] != values[column] or values[column] in (float("inf"), float("-inf")):
                problems.add(name, line, column, f"{column} {raw!r} is not a finite number")
                values.pop(column)
        if not label:
            problems.add(name, line, "event_label", "the event has no label")
        onset, offset = values.get("onset"), values.get("offset")
        if onset is not None and onset < 0:
            problems.add(name, line, "onset", f"onset {onset:g} is negative")
        if onset is not None and offset is not None and offset <= onset:
            kind = "zero-length" if offset == onset else "reversed"
            problems.add(name, line, "offset", f"{kind} event: offset {offset:g} <= onset {onset:g}")
        if len(problems.by_clip.get(name, [])) > bad:
            if not collect:
                problems.raise_error()
            continue
        events[name].append((onset, offset, label))
        lines[name].append((line, label))
    return (files, events, lines) if collect else (files, events)


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


def _clip_length(path: Path, clip_seconds: float) -> float:
    """The clip's length as the model sees it: the file's duration, at most ``clip_seconds``
    (an unreadable header leaves ``clip_seconds``: the audio check reports the file)."""
    try:
        info = audio_info(path)
    except AudioError:
        return clip_seconds
    return min(clip_seconds, info.frames / float(info.samplerate)) if info.samplerate else clip_seconds


def _check_lengths(sub: Subset, problems: LabelProblems, clip_seconds: float, frame_seconds: float) -> int:
    """Events against each present clip's length; returns how many ends were clamped."""
    clamped = 0
    for f, p in zip(sub.files, sub.paths):
        length = _clip_length(p, clip_seconds)
        kept = []
        for (on, off, lab), (line, _) in zip(sub.events[f], sub.lines[f]):
            if on >= length:
                problems.add(f, line, "onset", f"onset {on:g} is at or beyond the clip's end ({length:g} s)")
            elif off > length + frame_seconds:
                problems.add(f, line, "offset", f"offset {off:g} is beyond the clip's end ({length:g} s)")
            elif off > length:  # within the clip's last frame
                off, clamped = length, clamped + 1
            kept.append((on, off, lab))
        sub.events[f] = kept
    return clamped


def read_subset(root, name: str, skip_bad: bool = False, clip_seconds: Optional[float] = None,
                frame_seconds: float = 0.0) -> Subset:
    """Read one subset's metadata; files absent on disk go to ``missing``, clips with a
    bad strong-label row (see the module doc) to ``skipped`` with ``skip_bad``, else
    the first bad row is a :class:`DatasetError`."""
    if name not in SUBSETS:
        raise DatasetError(f"unknown DCASE subset {name!r} (subsets: {', '.join(SUBSETS)})")
    root = Path(root)
    meta, audio, kind = SUBSETS[name]
    sub = Subset(name, kind)
    problems = LabelProblems(root / meta)
    if kind == "strong":
        files, sub.events, sub.lines = read_strong(root / meta, problems)
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
    clamped = 0
    if kind == "strong" and clip_seconds is not None:
        clamped = _check_lengths(sub, problems, clip_seconds, frame_seconds)
    if problems and not skip_bad:
        problems.raise_error()
    if clamped:
        log.warning("%s: %d event end(s) ran past the clip's end by at most one frame (%.3f s) and were "
                    "clamped to it", root / meta, clamped, frame_seconds)
    if kind == "strong":
        sub.labels = {f: tuple(sorted({e[2] for e in ev})) for f, ev in sub.events.items()}
    if problems:
        _drop(sub, problems.skips(), root / audio)
    return sub


def _drop(sub: Subset, skips: Dict[str, str], audio_dir: Path) -> None:
    """Leave the clips of ``skips`` ({clip: reason}) out of ``sub`` and list them (one
    warning); a clip already missing on disk stays listed as missing only."""
    present = set(sub.files)
    keep = [i for i, f in enumerate(sub.files) if f not in skips]
    sub.files = [sub.files[i] for i in keep]
    sub.paths = [sub.paths[i] for i in keep]
    listed = [(str(audio_dir / f), r) for f, r in skips.items() if f in present]
    sub.skipped += listed
    if listed:
        log.warning("skipped %d %s clip(s) with bad labels:\n%s", len(listed), sub.name,
                    "\n".join(f"  {p}: {r}" for p, r in listed))


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

    @property
    def skipped(self) -> List[Tuple[str, str]]:
        """Every clip left out: missing on disk, then skipped for bad labels."""
        return self.missing + [m for s in self.subsets.values() for m in s.skipped]


TRAINING = ("synthetic", "weak")


def _check_trained_labels(root: Path, sub: Subset, trained: set, skip_bad: bool) -> None:
    """A strongly labelled evaluation clip with a label no training clip has: an error
    naming file, line and column, or (``skip_bad``) a listed skip of the clip."""
    problems = LabelProblems(root / SUBSETS[sub.name][0])
    for f in sub.files:
        for line, lab in sub.lines.get(f, []):
            if lab not in trained:
                problems.add(f, line, "event_label", f"label {lab!r} is on no training clip (the model "
                             f"would have an output class without training data)")
    if problems and not skip_bad:
        problems.raise_error()
    if problems:
        _drop(sub, problems.skips(), root / SUBSETS[sub.name][1])


def load_dcase(root, subsets: Sequence[str] = tuple(SUBSETS), classes: Optional[Sequence[str]] = None,
               skip_bad: bool = False, clip_seconds: Optional[float] = None, frame_seconds: float = 0.0,
               trained_labels_only: bool = False) -> DcaseDataset:
    """Read the given subsets of a DCASE 2019 task 4 folder (``skip_bad``,
    ``clip_seconds``, ``frame_seconds``: see :func:`read_subset`). With
    ``trained_labels_only`` the class list comes from the training subsets (synthetic,
    weak) and an evaluation label outside what the present training clips carry is an
    error (or, with ``skip_bad``, a listed skip of that clip)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"--data-dir {root} is not a folder")
    subs = {name: read_subset(root, name, skip_bad, clip_seconds, frame_seconds) for name in subsets}
    labelled = [s for s in subs.values() if s.kind != "none"]
    training = [subs[n] for n in TRAINING if n in subs]
    if trained_labels_only and training:
        trained = {lab for s in training for f in s.files for lab in s.labels.get(f, ())}
        for s in labelled:
            if s.name not in TRAINING:
                _check_trained_labels(root, s, trained, skip_bad)
        names = list(classes) if classes else class_list(training)
    else:
        names = list(classes) if classes else class_list(labelled)
    known = set(names)
    for s in labelled:
        for f in s.files:
            unknown = [x for x in s.labels.get(f, ()) if x not in known]
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
