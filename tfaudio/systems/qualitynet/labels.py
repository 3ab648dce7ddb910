"""Quality-Net data: score manifests, and building a PESQ-labelled quality set.

Manifests
---------
A manifest lists audio files with a quality score. Two formats are read:

* CSV with a header ``path,score[,condition,speaker,...]`` (any extra columns kept);
* the original list format: a text file without header, one ``score,path`` or
  ``score path`` per line.

Relative paths are resolved against the manifest's folder. :func:`read_manifest`
returns a DataFrame with at least ``path`` (absolute str), ``score`` (float),
``condition`` (str, ``"unknown"`` when absent) and ``speaker`` (str, ``""`` when
absent); :func:`write_manifest` writes one atomically with paths relative to it.
Scores must lie in ``[0, 5]`` (PESQ, MOS; callers on another scale pass
``max_score``); a file listed twice is kept once, or refused when its scores differ.

Building a labelled set (Quality-Net, section 3.1)
--------------------------------------------------
:func:`make_quality_set` turns a folder of clean speech (TIMIT layout works as is)
and a folder of noise recordings into three unparalleled conditions - *clean*
(kept as is), *noisy* (one noise type at one SNR) and *enhanced* (noisy, then the
Wiener enhancer of :mod:`tfaudio.audio.enhance`) - labelled with PESQ from the
``pesq`` package (ITU-T P.862; wide band at 16 kHz, narrow band at 8 kHz), split
speaker-disjointly into train/dev/test manifests. Work runs in parallel, is
deterministic given the seed and resumable (finished items are never recomputed).
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import multiprocessing
import os
import re
import sys
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from pesq import BufferTooShortError, NoUtterancesError
from pesq import pesq as _pesq

from tfaudio.atomic import write_text
from tfaudio.data.splits import assign_splits  # noqa: F401  (re-exported)
from tfaudio.errors import DatasetError, TfaudioError
from tfaudio.audio.io import AUDIO_EXTENSIONS, AudioError, audio_info, load_audio, mix_at_snr, write_audio

log = logging.getLogger(__name__)

#: Columns of the manifests written by :func:`make_quality_set` (all.csv adds ``split``).
MANIFEST_COLUMNS = ["path", "score", "condition", "speaker", "noise", "snr", "source"]
CONDITIONS = ("clean", "noisy", "enhanced")
SPLITS = ("train", "dev", "test")

#: Extensions searched for audio (case-insensitive). TIMIT's ``.PHN/.WRD/.TXT`` and
#: anything else are ignored.
#: Paper: 250 of the 4620 TIMIT training utterances were kept clean.
PAPER_CLEAN_FRACTION = 250 / 4620
#: Peak below which a file counts as silent (-80 dBFS).
SILENCE_PEAK = 1e-4
#: Shortest utterance accepted (PESQ itself needs at least 0.25 s).
MIN_SECONDS = 0.3
#: Scores a manifest may hold by default: [0, 5] covers PESQ (-0.5 .. 4.64, in
#: practice >= 1) and MOS (1 .. 5). Callers with another scale pass ``max_score``.
MIN_SCORE = 0.0
MAX_SCORE = 5.0
#: Duplicated paths listed by name in the duplicate warning.
SHOW_DUPLICATES = 5
#: Bump when the per-item computation changes, so resumed runs recompute.
ITEM_FORMAT = "qitem-1"


# ==================================================================================
# Manifests
# ==================================================================================
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
    paths are resolved like ``path``). Problems (missing ``path``/``score`` column,
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


# ==================================================================================
# PESQ labels
# ==================================================================================
class QualitySetError(TfaudioError, ValueError):
    """Bad input to :func:`make_quality_set` (missing folder, no audio, bad option)."""


class PesqLabelError(ValueError):
    """PESQ could not score a pair; ``reason`` says why (silent, too short, ...)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def resolve_band(band: str, sample_rate: int) -> str:
    """``"auto"`` -> ``"wb"`` at 16 kHz, ``"nb"`` at 8 kHz; validates the pair."""
    if sample_rate not in (8000, 16000):
        raise QualitySetError(f"PESQ works at 8000 or 16000 Hz, not {sample_rate} Hz")
    if band == "auto":
        return "wb" if sample_rate == 16000 else "nb"
    if band not in ("wb", "nb"):
        raise QualitySetError(f"band must be 'auto', 'wb' or 'nb', not {band!r}")
    if band == "wb" and sample_rate != 16000:
        raise QualitySetError("wide-band PESQ needs 16000 Hz audio")
    return band


def _msg(exc: Exception) -> str:
    a = exc.args[0] if exc.args else str(exc)
    return a.decode(errors="replace") if isinstance(a, bytes) else str(a)


def pesq_label(ref: np.ndarray, deg: np.ndarray, sample_rate: int = 16000,
               band: str = "auto") -> float:
    """PESQ (MOS-LQO) of ``deg`` against ``ref`` via the ``pesq`` package.

    ``pesq(fs, ref, deg, "wb")`` at 16 kHz, ``"nb"`` at 8 kHz (``band="auto"``).
    Raises :class:`PesqLabelError` (never returns NaN) for silent signals, signals
    shorter than PESQ accepts, no detected utterances or any other PESQ failure.
    """
    mode = resolve_band(band, sample_rate)
    ref = np.asarray(ref, dtype=np.float32)
    deg = np.asarray(deg, dtype=np.float32)
    n = min(ref.shape[0], deg.shape[0])
    ref, deg = ref[:n], deg[:n]
    if n < 0.25 * sample_rate:
        raise PesqLabelError(f"too short for PESQ ({n / sample_rate:.2f} s < 0.25 s)")
    if not np.any(ref) or float(np.max(np.abs(ref))) < SILENCE_PEAK:
        raise PesqLabelError("reference is silent")
    if not np.any(deg):
        raise PesqLabelError("degraded signal is all zeros")
    try:
        score = _pesq(sample_rate, ref, deg, mode)
    except NoUtterancesError as exc:
        raise PesqLabelError(f"PESQ detected no utterances ({_msg(exc)})") from exc
    except BufferTooShortError as exc:
        raise PesqLabelError(f"too short for PESQ ({_msg(exc)})") from exc
    except Exception as exc:  # PesqError and anything else from the C code
        raise PesqLabelError(f"PESQ failed: {type(exc).__name__}: {_msg(exc)}") from exc
    score = float(score)
    if not math.isfinite(score):
        raise PesqLabelError(f"PESQ returned a non-finite score ({score})")
    return score


# ==================================================================================
# Finding inputs
# ==================================================================================
def _strip_audio_ext(name: str) -> str:
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


def speaker_of(path, root) -> str:
    """Speaker = name of the file's folder (TIMIT: ``.../DR1/FCJF0/SA1.WAV`` ->
    ``FCJF0``); ``""`` (unknown) for files directly inside ``root``."""
    rel = Path(path).relative_to(root)
    return rel.parent.name if len(rel.parts) > 1 else ""


def utterance_id(path, root) -> str:
    """File-system-safe ID from the path relative to ``root`` (audio extensions
    stripped, so ``SA1.WAV`` and ``SA1.WAV.wav`` give the same ID)."""
    rel = Path(path).relative_to(root)
    parts = list(rel.parts[:-1]) + [_strip_audio_ext(rel.name)]
    uid = "_".join(parts)
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", uid).strip("_") or "utt"


# ==================================================================================
# Splits
# ==================================================================================
# ==================================================================================
# Per-item work (runs in worker processes)
# ==================================================================================
_WORKER_NOISES: Dict[str, np.ndarray] = {}


def _init_worker(noises: Dict[str, np.ndarray]) -> None:
    global _WORKER_NOISES
    _WORKER_NOISES = noises


def _atomic_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def _item_key(spec: dict, cfg: dict) -> dict:
    key = {k: spec[k] for k in ("utt_id", "source_rel", "source_size", "condition",
                                "noise", "snr", "noise_offset")}
    key.update(format=ITEM_FORMAT, sample_rate=cfg["sample_rate"], band=cfg["band"],
               noise_len=spec.get("noise_len"), noise_crc=spec.get("noise_crc"))
    if spec["condition"] == "enhanced":
        key["enhancer"] = cfg["enhancer"]
    return key


def _process_item(spec: dict, cfg: dict) -> dict:
    """Make, write and label one item; returns its record (also written as JSON)."""
    from tfaudio.audio.enhance import wiener_enhance

    out_dir = Path(cfg["out_dir"])
    sr = cfg["sample_rate"]
    rec = {"key": _item_key(spec, cfg), "utt_id": spec["utt_id"], "index": spec["index"],
           "source": spec["source"], "speaker": spec["speaker"],
           "condition": spec["condition"], "noise": spec["noise"], "snr": spec["snr"],
           "path": spec["out_rel"], "status": "ok", "reason": "", "score": None,
           "orig_sr": None}
    wav = out_dir / spec["out_rel"]
    try:
        try:
            rec["orig_sr"] = int(audio_info(spec["source"]).samplerate)
            clean = load_audio(spec["source"], sample_rate=sr, mono=True)
        except AudioError as exc:
            raise PesqLabelError(exc.reason) from exc
        dur = clean.shape[0] / sr
        if dur < MIN_SECONDS:
            raise PesqLabelError(f"too short ({dur:.2f} s < {MIN_SECONDS} s)")
        if float(np.max(np.abs(clean))) < SILENCE_PEAK:
            raise PesqLabelError("silent (peak below -80 dBFS)")
        if spec["condition"] == "clean":
            deg = clean
        else:
            noise = _WORKER_NOISES[spec["noise"]]
            deg = mix_at_snr(clean, noise, float(spec["snr"]), offset=int(spec["noise_offset"]))
            if spec["condition"] == "enhanced":
                deg = wiener_enhance(deg, sample_rate=sr)
        peak = float(np.max(np.abs(deg)))
        if peak > 0.99:  # avoid clipping in the 16-bit file; PESQ is level-aligned
            deg = deg * (0.99 / peak)
        write_audio(str(wav), deg, sr, subtype="PCM_16")
        # Label exactly what was written (16-bit quantised), as a user would read it.
        written = load_audio(str(wav), sample_rate=sr, mono=True)
        rec["score"] = pesq_label(clean, written, sr, cfg["band"])
    except PesqLabelError as exc:
        rec.update(status="skipped", reason=exc.reason, score=None)
    except Exception as exc:  # keep going; the summary and the log show it
        rec.update(status="skipped", reason=f"unexpected error: {type(exc).__name__}: {exc}",
                   score=None)
    if rec["status"] != "ok" and wav.exists():
        wav.unlink()
    _atomic_json(out_dir / "items" / f"{spec['utt_id']}.json", rec)
    return rec


def _load_finished(spec: dict, cfg: dict) -> Optional[dict]:
    p = Path(cfg["out_dir"]) / "items" / f"{spec['utt_id']}.json"
    if not p.is_file():
        return None
    try:
        rec = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if rec.get("key") != _item_key(spec, cfg):
        return None
    if rec.get("status") == "ok":
        if not (Path(cfg["out_dir"]) / rec["path"]).is_file():
            return None
        if not isinstance(rec.get("score"), (int, float)) or not math.isfinite(rec["score"]):
            return None
    rec["source"] = spec["source"]  # the tree may have moved; the key still matched
    return rec


# ==================================================================================
# The builder
# ==================================================================================
@dataclass
class QualitySetResult:
    """What :func:`make_quality_set` did. ``manifests`` maps train/dev/test/all to
    CSV paths; ``skipped`` lists ``(source, reason)``."""

    out_dir: Path
    manifests: Dict[str, Path]
    counts: Dict[str, int]
    split_counts: Dict[str, int]
    computed: int
    reused: int
    skipped: List[Tuple[str, str]] = field(default_factory=list)
    score_stats: Dict[str, Dict[str, float]] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"quality set in {self.out_dir}: {sum(self.counts.values())} labelled "
                 f"utterances ({', '.join(f'{k} {v}' for k, v in self.counts.items())}); "
                 f"splits {', '.join(f'{k} {v}' for k, v in self.split_counts.items())}; "
                 f"computed {self.computed}, reused {self.reused}, "
                 f"skipped {len(self.skipped)}"]
        for cond, st in self.score_stats.items():
            lines.append(f"  PESQ {cond:9s} n={st['n']:4d} min {st['min']:.2f}  "
                         f"p10 {st['p10']:.2f}  median {st['median']:.2f}  "
                         f"p90 {st['p90']:.2f}  max {st['max']:.2f}  mean {st['mean']:.2f}")
        if self.skipped:
            reasons = Counter(_reason_kind(r) for _, r in self.skipped)
            lines.append("  skipped: " + "; ".join(f"{n} x {r}" for r, n in reasons.most_common()))
        return "\n".join(lines)


def _reason_kind(reason: str) -> str:
    return re.sub(r"\(.*\)", "(...)", reason).strip()


def _snr_tag(snr: float) -> str:
    return f"{snr:g}dB".replace("-", "m") if snr < 0 else f"{snr:g}dB"


def _load_noises(noise_dir: Path, sample_rate: int) -> Dict[str, np.ndarray]:
    files = find_audio_files(noise_dir)
    if not files:
        raise QualitySetError(f"no audio files found in noise folder {noise_dir}")
    stems = Counter(_strip_audio_ext(f.name) for f in files)
    noises: Dict[str, np.ndarray] = {}
    resampled: Counter = Counter()
    for f in files:
        name = _strip_audio_ext(f.name)
        if stems[name] > 1:  # same stem in several sub-folders: use the relative path
            name = utterance_id(f, noise_dir)
        try:
            sr = audio_info(f).samplerate
            x = load_audio(f, sample_rate=sample_rate, mono=True)
        except AudioError as exc:
            log.warning("skipping noise file %s: %s", f, exc.reason)
            continue
        if float(np.max(np.abs(x))) < SILENCE_PEAK:
            log.warning("skipping noise file %s: silent", f)
            continue
        if sr != sample_rate:
            resampled[sr] += 1
        noises[name] = x
    if resampled:
        log.info("resampled %d noise file(s) to %d Hz (original rates: %s)",
                 sum(resampled.values()), sample_rate,
                 ", ".join(f"{r} Hz x{n}" for r, n in sorted(resampled.items())))
    if not noises:
        raise QualitySetError(f"no usable noise recordings in {noise_dir}")
    return noises


def make_quality_set(
    clean_dir,
    noise_dir,
    out_dir,
    snrs: Sequence[float] = (-10, -5, 0, 5, 10, 15, 20, 25),
    sample_rate: int = 16000,
    clean_fraction: float = PAPER_CLEAN_FRACTION,
    enhanced_fraction: Optional[float] = None,
    seed: int = 0,
    splits: Sequence[float] = (0.8, 0.1, 0.1),
    workers: Optional[int] = None,
    band: str = "auto",
    max_utterances: Optional[int] = None,
    progress: bool = True,
) -> QualitySetResult:
    """Build a PESQ-labelled clean / noisy / enhanced set (Quality-Net, sec. 3.1).

    * ``clean_dir`` is searched recursively for audio (TIMIT's ``TRAIN/DR1/FCJF0/
      SA1.WAV`` SPHERE files work unchanged; speaker = parent folder name);
      ``noise_dir`` holds noise recordings (noise type = file stem).
    * A seeded permutation picks ``round(clean_fraction * N)`` utterances kept clean
      (default 250/4620 as in the paper) and ``round(enhanced_fraction * N)``
      enhanced (default: half of the rest; a non-zero fraction gives at least one
      item); the others are noisy. Both fractions are
      of the total ``N``. Each utterance gets exactly one condition, noise type and
      SNR (unparalleled), drawn from ``np.random.default_rng([seed, index])`` with
      ``index`` the file's position in the sorted list, as is the random offset into
      the (looped) noise. Enhanced = noisy, then
      :func:`tfaudio.audio.enhance.wiener_enhance`.
    * Label: ``pesq(fs, clean, degraded, "wb")`` at 16 kHz / ``"nb"`` at 8 kHz
      (``band="auto"``), computed on the written 16-bit file. Items PESQ cannot
      score, and unreadable / empty / silent / too short files, are skipped with a
      reason (logged, listed in ``skipped.csv`` and in the result), never NaN.
    * Writes ``out_dir/audio/<condition>/<utt>[__<noise>_<snr>dB].wav``, one
      ``out_dir/items/<utt>.json`` record per utterance, and manifests
      ``train.csv``, ``dev.csv``, ``test.csv`` (columns :data:`MANIFEST_COLUMNS`)
      and ``all.csv`` (plus ``split``), paths relative to ``out_dir``. Splits are
      speaker-disjoint (utterances with unknown speaker are split individually).
    * Runs on ``workers`` processes (default ``os.cpu_count()``; ``1`` = in this
      process) with a tqdm bar. Resumable: an item whose record and wav exist with
      the same inputs/parameters is not recomputed.
    * ``max_utterances`` keeps a seeded random subset of the clean files.
    """
    clean_dir = Path(clean_dir).expanduser()
    noise_dir = Path(noise_dir).expanduser()
    out_dir = Path(out_dir).expanduser()
    if not clean_dir.is_dir():
        raise QualitySetError(f"clean speech folder not found: {clean_dir}")
    if not noise_dir.is_dir():
        raise QualitySetError(f"noise folder not found: {noise_dir}")
    mode = resolve_band(band, int(sample_rate))
    snrs = [float(s) for s in snrs]
    if not snrs:
        raise QualitySetError("at least one SNR is needed")
    if not 0.0 <= clean_fraction <= 1.0:
        raise QualitySetError(f"clean_fraction must be within [0, 1], got {clean_fraction}")
    if enhanced_fraction is None:
        enhanced_fraction = (1.0 - clean_fraction) / 2.0
    if not 0.0 <= enhanced_fraction <= 1.0 or clean_fraction + enhanced_fraction > 1.0 + 1e-9:
        raise QualitySetError("enhanced_fraction must be within [0, 1] and "
                              "clean_fraction + enhanced_fraction <= 1, got "
                              f"{clean_fraction} + {enhanced_fraction}")
    out_dir.mkdir(parents=True, exist_ok=True)
    clean_abs = clean_dir.resolve()

    # ---- discover clean speech ------------------------------------------------------
    files = find_audio_files(clean_abs, exclude=[out_dir.resolve(), noise_dir.resolve()])
    if not files:
        raise QualitySetError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) found in "
                              f"{clean_dir}")
    by_id: Dict[str, Path] = {}
    dupes = 0
    for f in files:
        uid = utterance_id(f, clean_abs)
        if uid in by_id:
            dupes += 1
            log.debug("ignoring %s: same utterance as %s", f, by_id[uid])
            continue
        by_id[uid] = f
    if dupes:
        log.info("ignored %d duplicate copies (e.g. SA1.WAV next to SA1.WAV.wav)", dupes)
    utts = sorted(by_id.items(), key=lambda kv: kv[1].relative_to(clean_abs).as_posix())
    indices = list(range(len(utts)))
    if max_utterances is not None and max_utterances < len(utts):
        perm = np.random.default_rng([seed, 5, 5]).permutation(len(utts))
        indices = sorted(int(i) for i in perm[: int(max_utterances)])
    n = len(indices)

    noises = _load_noises(noise_dir, int(sample_rate))
    noise_names = sorted(noises)
    # content fingerprints: a changed noise recording invalidates finished items
    noise_crc = {k: f"{zlib.crc32(np.ascontiguousarray(v).tobytes()):08x}"
                 for k, v in noises.items()}

    # ---- plan: condition / noise / SNR / offset per utterance ---------------------
    n_clean = int(round(clean_fraction * n))
    if clean_fraction > 0 and n_clean == 0 and n > 1:
        n_clean = 1  # a non-zero fraction always gives at least one item
    n_enh = min(n - n_clean, int(round(enhanced_fraction * n)))
    if enhanced_fraction > 0 and n_enh == 0 and n - n_clean > 1:
        n_enh = 1
    order = np.random.default_rng([seed, 7, 7]).permutation(n)
    cond_of = {}
    for rank, pos in enumerate(order):
        cond_of[indices[int(pos)]] = ("clean" if rank < n_clean else
                                      "enhanced" if rank < n_clean + n_enh else "noisy")
    from tfaudio.audio.enhance import ENHANCER_VERSION

    cfg = {"out_dir": str(out_dir), "sample_rate": int(sample_rate), "band": mode,
           "enhancer": ENHANCER_VERSION}
    specs = []
    for idx in indices:
        uid, f = utts[idx]
        rng = np.random.default_rng([seed, idx])
        noise = noise_names[int(rng.integers(len(noise_names)))]
        snr = snrs[int(rng.integers(len(snrs)))]
        offset = int(rng.integers(0, noises[noise].shape[0]))
        cond = cond_of[idx]
        if cond == "clean":
            noise, snr, offset, rel = "", None, 0, f"audio/clean/{uid}.wav"
        else:
            rel = f"audio/{cond}/{uid}__{noise}_{_snr_tag(snr)}.wav"
        try:
            size = f.stat().st_size
        except OSError:
            size = -1
        specs.append({
            "index": idx, "utt_id": uid, "source": str(f),
            "source_rel": f.relative_to(clean_abs).as_posix(), "source_size": size,
            "speaker": speaker_of(f, clean_abs), "condition": cond, "noise": noise,
            "snr": snr, "noise_offset": offset,
            "noise_len": int(noises[noise].shape[0]) if noise else None,
            "noise_crc": noise_crc[noise] if noise else None, "out_rel": rel,
        })
    (out_dir / "items").mkdir(parents=True, exist_ok=True)

    # ---- run (resumable) ------------------------------------------------------------
    records: List[dict] = []
    todo = []
    for spec in specs:
        rec = _load_finished(spec, cfg)
        if rec is None:
            todo.append(spec)
        else:
            records.append(rec)
    reused = len(records)
    if reused:
        log.info("resuming: %d of %d items already done", reused, len(specs))
    n_workers = int(workers) if workers else (os.cpu_count() or 1)
    n_workers = max(1, min(n_workers, len(todo))) if todo else 1
    from tqdm.auto import tqdm

    bar = tqdm(total=len(specs), initial=reused, disable=not progress, unit="utt",
               desc="PESQ-labelling", dynamic_ncols=True, file=sys.stderr)

    def _done(rec):
        records.append(rec)
        if rec["status"] != "ok":
            log.warning("skipped %s: %s", rec["source"], rec["reason"])
        bar.update(1)

    try:
        if n_workers == 1:
            _init_worker(noises)
            for spec in todo:
                _done(_process_item(spec, cfg))
        else:
            ctx = (multiprocessing.get_context("fork")
                   if "fork" in multiprocessing.get_all_start_methods() else None)
            ex = ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx,
                                     initializer=_init_worker, initargs=(noises,))
            try:
                futures = [ex.submit(_process_item, spec, cfg) for spec in todo]
                for fut in as_completed(futures):
                    _done(fut.result())
            except BaseException:  # Ctrl-C / crash: drop queued work, keep finished items
                ex.shutdown(wait=True, cancel_futures=True)
                raise
            ex.shutdown(wait=True)
    finally:
        bar.close()
        _init_worker({})

    # ---- collect -----------------------------------------------------------------
    for sub in ("audio", "items"):  # temp files left by an earlier, killed run
        for stale in (out_dir / sub).rglob("*.part*"):
            if stale.is_file():
                stale.unlink()
    records.sort(key=lambda r: r["index"])
    ok = [r for r in records if r["status"] == "ok"]
    skipped = [(r["source"], r["reason"]) for r in records if r["status"] != "ok"]
    resampled = Counter(r["orig_sr"] for r in records
                        if r.get("orig_sr") and r["orig_sr"] != sample_rate)
    if resampled:
        log.info("resampled %d clean file(s) to %d Hz (original rates: %s)",
                 sum(resampled.values()), sample_rate,
                 ", ".join(f"{r} Hz x{n}" for r, n in sorted(resampled.items())))
    skip_df = pd.DataFrame(skipped, columns=["source", "reason"])
    write_text(out_dir / "skipped.csv", skip_df.to_csv(index=False))
    if not ok:
        reasons = Counter(_reason_kind(r) for _, r in skipped)
        raise QualitySetError(f"no utterance could be labelled ({len(skipped)} skipped: "
                              + "; ".join(f"{n} x {r}" for r, n in reasons.most_common(5))
                              + ")")

    groups = [r["speaker"] if r["speaker"] else f"utt:{r['utt_id']}" for r in ok]
    split_of = assign_splits(groups, splits, seed=seed)
    known = {r["speaker"] for r in ok if r["speaker"]}
    if len(known) == 1:
        log.warning("all utterances come from one speaker (%s): the splits cannot be "
                    "speaker-disjoint", next(iter(known)))
    rows = []
    for r, g in zip(ok, groups):
        rows.append({
            "path": str(out_dir / r["path"]), "score": float(r["score"]),
            "condition": r["condition"], "speaker": r["speaker"], "noise": r["noise"],
            "snr": r["snr"] if r["snr"] is not None else "", "source": r["source"],
            "split": split_of[g],
        })
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS + ["split"])
    manifests = {}
    for name in SPLITS:
        part = df[df["split"] == name][MANIFEST_COLUMNS]
        manifests[name] = write_manifest(part, out_dir / f"{name}.csv")
        if part.empty and splits[SPLITS.index(name)] > 0:
            log.warning("split %r is empty (too few speakers for the requested fractions)",
                        name)
    manifests["all"] = write_manifest(df, out_dir / "all.csv")

    stats = {}
    for cond in CONDITIONS:
        s = df.loc[df["condition"] == cond, "score"].to_numpy()
        if s.size:
            stats[cond] = {"n": int(s.size), "min": float(s.min()), "max": float(s.max()),
                           "mean": float(s.mean()), "median": float(np.median(s)),
                           "p10": float(np.percentile(s, 10)),
                           "p90": float(np.percentile(s, 90))}
    result = QualitySetResult(
        out_dir=out_dir, manifests=manifests,
        counts={c: int((df["condition"] == c).sum()) for c in CONDITIONS},
        split_counts={s: int((df["split"] == s).sum()) for s in SPLITS},
        computed=len(todo), reused=reused, skipped=skipped, score_stats=stats,
    )
    _atomic_json(out_dir / "summary.json", {
        "counts": result.counts, "splits": result.split_counts,
        "skipped": [{"source": s, "reason": r} for s, r in skipped],
        "score_stats": stats, "snrs": snrs, "sample_rate": int(sample_rate), "band": mode,
        "seed": seed, "clean_fraction": clean_fraction,
        "enhanced_fraction": enhanced_fraction, "noises": noise_names,
        "enhancer": ENHANCER_VERSION,
    })
    level = logging.WARNING if skipped else logging.INFO
    log.log(level, "%s", result.summary())
    return result
