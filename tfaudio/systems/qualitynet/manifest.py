"""Quality-Net score manifests: read and write the lists of audio files with a
quality score that training, evaluation and the set builder share.

Two formats are read:

* CSV with a header ``path,score[,condition,speaker,...]`` (any extra columns kept);
* the original list format: a text file without header, one ``score,path`` or
  ``score path`` per line.

Relative paths are resolved against the manifest's folder. :func:`read_manifest`
returns a DataFrame with at least ``path`` (absolute str), ``score`` (float),
``condition`` (str, ``"unknown"`` when absent) and ``speaker`` (str, ``""`` when
absent); :func:`write_manifest` writes one atomically with paths relative to it.
Scores must lie in ``[0, 5]`` (PESQ, MOS; callers on another scale pass
``max_score``); a file listed twice is kept once, or refused when its scores differ.
"""
from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from tfaudio.atomic import write_text
from tfaudio.errors import DatasetError

log = logging.getLogger(__name__)

#: Scores a manifest may hold by default: [0, 5] covers PESQ (-0.5 .. 4.64, in
#: practice >= 1) and MOS (1 .. 5). Callers with another scale pass ``max_score``.
MIN_SCORE = 0.0
MAX_SCORE = 5.0
#: Duplicated paths listed by name in the duplicate warning.
SHOW_DUPLICATES = 5


class ManifestError(DatasetError):
    """A manifest could not be read. ``problems`` lists ``(line, column, message)``."""

    def __init__(self, path, problems: Sequence[Tuple[Optional[int], Optional[str], str]]):
        self.path = str(path)
        self.problems = list(problems)
        shown = [_format_problem(p) for p in self.problems[:10]]
        more = len(self.problems) - len(shown)
        msg = f"{self.path}: " + "; ".join(shown)
        if more > 0:
            msg += f"; and {more} more problem(s)"
        super().__init__(msg)


def _format_problem(p) -> str:
    line, column, message = p
    where = []
    if line is not None:
        where.append(f"line {line}")
    if column is not None:
        where.append(f"column '{column}'")
    return (", ".join(where) + ": " if where else "") + message


def _detect_list_format(first_line: str) -> bool:
    """True if the first non-empty line looks like ``score,path`` / ``score path``."""
    first = re.split(r"[,\s]", first_line.strip(), maxsplit=1)[0]
    try:
        float(first)
        return True
    except ValueError:
        return False


def _read_raw(path: Path) -> Tuple[pd.DataFrame, List[int], bool]:
    """Rows as strings, their 1-based line numbers in the file, and is-list-format."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(path, [(None, None, f"not a UTF-8 text file ({exc})")]) from exc
    lines = text.splitlines()
    nonblank = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    if not nonblank:
        raise ManifestError(path, [(None, None, "file is empty (expected a 'path,score' "
                                                "header or 'score,path' lines)")])
    if _detect_list_format(nonblank[0][1]):
        rows, numbers = [], []
        for lineno, ln in nonblank:
            s = ln.strip()
            if "," in s:
                score, _, p = s.partition(",")
            else:
                parts = s.split(None, 1)
                score, p = parts[0], (parts[1] if len(parts) > 1 else "")
            rows.append({"score": score.strip(), "path": p.strip()})
            numbers.append(lineno)
        return pd.DataFrame(rows, columns=["path", "score"]), numbers, True
    # CSV with header. Track physical line numbers of records (quoted fields may
    # span lines, so count with the csv reader itself).
    reader = csv.reader(io.StringIO(text))
    header = None
    records, numbers = [], []
    for rec in reader:
        if not any(c.strip() for c in rec):
            continue
        if header is None:
            header = [c.strip().lower() for c in rec]
            continue
        records.append(rec)
        numbers.append(reader.line_num)
    missing = [c for c in ("path", "score") if c not in header]
    if missing:
        raise ManifestError(path, [(nonblank[0][0], None, "missing column(s) "
                                    + ", ".join(f"'{c}'" for c in missing)
                                    + f" in header (found: {', '.join(header)})")])
    problems = []
    fixed = []
    for rec, lineno in zip(records, numbers):
        if len(rec) != len(header):
            problems.append((lineno, None, f"has {len(rec)} fields, header has {len(header)}"))
            rec = (rec + [""] * len(header))[: len(header)]
        fixed.append([c.strip() for c in rec])
    df = pd.DataFrame(fixed, columns=header, dtype=object)
    df.attrs["field_problems"] = problems
    return df, numbers, False


def read_manifest(path, skip_bad: bool = False, check_exists: bool = True,
                  max_score: float = MAX_SCORE) -> pd.DataFrame:
    """Read a quality manifest (CSV with header, or the headerless list format).

    Returns a DataFrame with columns ``path`` (absolute str), ``score`` (float64),
    ``condition`` (str, default ``"unknown"``), ``speaker`` (str, default ``""``)
    plus any other CSV columns (``snr`` is made numeric when present; ``source``
    paths are resolved like ``path``; ``zero_shot`` is made 0 / 1). Problems (missing ``path``/``score`` column,
    empty / non-numeric / NaN / infinite score, score outside ``[0, max_score]``
    (default 5: PESQ and MOS), empty path, file that does not exist, the same file
    listed again with another score) raise :class:`ManifestError` naming the file,
    line and column of each bad row. With ``skip_bad=True`` bad rows are dropped
    instead and listed in a logged warning (for a file listed with disagreeing
    scores, all its rows); structural problems such as a missing column still raise.

    A file listed more than once with the same score is kept once (its first row)
    and the duplicates are reported in a warning with their count and first paths.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(path, [(None, None, "manifest file does not exist")])
    base = path.resolve().parent
    df, numbers, _ = _read_raw(path)
    problems: List[Tuple[int, Optional[str], str]] = list(df.attrs.get("field_problems", []))
    bad_lines = {p[0] for p in problems}
    scores = np.full(len(df), np.nan)
    paths: List[str] = []
    for i, (raw_score, raw_path) in enumerate(zip(df["score"], df["path"])):
        lineno = numbers[i]
        s = str(raw_score).strip()
        if s == "":
            problems.append((lineno, "score", "score is empty"))
        else:
            try:
                v = float(s)
                if math.isnan(v):
                    problems.append((lineno, "score", f"score is NaN ({s!r})"))
                elif math.isinf(v):
                    problems.append((lineno, "score", f"score is infinite ({s!r})"))
                elif not MIN_SCORE <= v <= max_score:
                    problems.append((lineno, "score", f"score {s} is outside the scale "
                                     f"[{MIN_SCORE:g}, {max_score:g}]"))
                else:
                    scores[i] = v
            except ValueError:
                problems.append((lineno, "score", f"score is not a number: {s!r}"))
        p = str(raw_path).strip()
        if not p:
            problems.append((lineno, "path", "path is empty"))
            paths.append("")
            continue
        full = Path(os.path.expanduser(p))
        if not full.is_absolute():
            full = base / full
        full_s = os.path.normpath(str(full))
        paths.append(full_s)
        if check_exists and not os.path.exists(full_s):
            problems.append((lineno, "path", f"file does not exist: {full_s}"))
    bad_lines |= {p[0] for p in problems}
    problems += _duplicate_problems(path, paths, scores, numbers, bad_lines)
    bad_lines |= {p[0] for p in problems}
    if problems and not skip_bad:
        raise ManifestError(path, problems)
    df = df.copy()
    df["path"] = paths
    df["score"] = scores
    if problems:
        log.warning("%s: skipped %d bad row(s): %s", path, len(bad_lines),
                    "; ".join(_format_problem(p) for p in problems))
        keep = [n not in bad_lines for n in numbers]
        df = df[keep]
    df = df.drop_duplicates(subset="path", keep="first").reset_index(drop=True)
    if "condition" not in df.columns:
        df["condition"] = "unknown"
    else:
        df["condition"] = df["condition"].fillna("").astype(str).replace("", "unknown")
    if "speaker" not in df.columns:
        df["speaker"] = ""
    else:
        df["speaker"] = df["speaker"].fillna("").astype(str)
    if "snr" in df.columns:
        df["snr"] = pd.to_numeric(df["snr"].replace("", np.nan), errors="coerce")
    if "zero_shot" in df.columns:  # 1 = a condition family held out of training
        df["zero_shot"] = pd.to_numeric(df["zero_shot"].replace("", 0), errors="coerce").fillna(0).astype(int)
    if "source" in df.columns:
        df["source"] = [
            "" if not str(s).strip() else os.path.normpath(
                str(s) if os.path.isabs(os.path.expanduser(str(s)))
                else str(base / str(s)))
            for s in df["source"]
        ]
    df["score"] = df["score"].astype(np.float64)
    front = ["path", "score", "condition", "speaker"]
    return df[front + [c for c in df.columns if c not in front]]


def _duplicate_problems(path, paths: List[str], scores, numbers: List[int],
                        bad_lines) -> List[Tuple[int, Optional[str], str]]:
    """Problems for files listed again with another score; warns about exact repeats.

    Rows already bad are ignored. A file whose rows disagree gives one problem per
    disagreeing row (each naming the first row's line), so ``skip_bad`` drops them all.
    """
    first: Dict[str, int] = {}
    conflicting, repeats = set(), []
    for i, p in enumerate(paths):
        if not p or numbers[i] in bad_lines:
            continue
        if p not in first:
            first[p] = i
        elif scores[i] == scores[first[p]]:
            repeats.append(i)
        else:
            conflicting.add(p)
    problems = []
    for p in sorted(conflicting, key=lambda q: first[q]):
        j = first[p]
        rows = [i for i, q in enumerate(paths) if q == p and numbers[i] not in bad_lines]
        for i in rows:
            if i == j:
                continue
            problems.append((numbers[i], "score",
                             f"{p} is listed twice with different scores: "
                             f"{scores[j]:g} on line {numbers[j]}, {scores[i]:g} on line "
                             f"{numbers[i]}"))
        problems.append((numbers[j], "score", f"{p} is listed again with another score"))
    repeats = [i for i in repeats if paths[i] not in conflicting]
    if repeats:
        names = list(dict.fromkeys(paths[i] for i in repeats))
        shown = ", ".join(names[:SHOW_DUPLICATES]) + (", ..." if len(names) > SHOW_DUPLICATES else "")
        log.warning("%s: %d duplicated row(s) (same file and score as an earlier row, lines %s) "
                    "ignored; first kept. Files: %s", path, len(repeats),
                    ", ".join(str(numbers[i]) for i in repeats[:SHOW_DUPLICATES])
                    + (", ..." if len(repeats) > SHOW_DUPLICATES else ""), shown)
    return problems


def _relative(p: str, base: Path) -> str:
    if not p:
        return p
    try:
        return Path(os.path.relpath(os.path.abspath(p), base)).as_posix()
    except ValueError:  # e.g. another drive on Windows
        return os.path.abspath(p)


def write_manifest(df: pd.DataFrame, path) -> Path:
    """Write ``df`` as a CSV manifest atomically (temp file + rename).

    ``path`` (and ``source`` when present) are written relative to the manifest's
    folder. Column order: path, score, condition, speaker, then the rest.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.resolve().parent
    if "path" not in df.columns or "score" not in df.columns:
        raise ValueError("write_manifest needs 'path' and 'score' columns")
    out = df.copy()
    out["path"] = [_relative(str(p), base) for p in out["path"]]
    if "source" in out.columns:
        out["source"] = [_relative(str(p), base) if isinstance(p, str) and p else ""
                         for p in out["source"]]
    front = [c for c in ("path", "score", "condition", "speaker") if c in out.columns]
    out = out[front + [c for c in out.columns if c not in front]]
    write_text(path, out.to_csv(index=False))
    return path
