"""IEMOCAP reader: the release layout (``IEMOCAP_full_release``).

* Audio: ``Session1..5/sentences/wav/<dialog>/<utterance>.wav``.
* Labels: ``Session*/dialog/EmoEvaluation/<dialog>.txt``; each utterance's line
  ``[start - end]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[v, a, d]`` gives the label the
  corpus assigns (the annotators' majority; ``xxx`` when there is none).
* The usual four-class set: anger, happiness (excitement merged into it), sadness,
  neutral (:data:`EMOTION_MAP`); other labels are left out.
* Speakers: two per session; an utterance's speaker is its session plus the sex
  letter of its last name part (``Ses01F_impro01_M003`` -> ``Ses01M``).
* Leave-one-speaker-out over the eight speakers of sessions 1-4, session 5 held out
  for hyper-parameters and early stopping (:func:`loso_folds`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from tfaudio.datasets.text import read_lines
from tfaudio.errors import DatasetError

#: Corpus label -> class of the four-emotion set (others are dropped).
EMOTION_MAP: Dict[str, str] = {"ang": "anger", "hap": "happiness", "exc": "happiness",
                               "sad": "sadness", "neu": "neutral"}
EMOTIONS: Tuple[str, ...] = ("anger", "happiness", "sadness", "neutral")
KNOWN_LABELS = ("ang", "hap", "exc", "sad", "neu", "fru", "sur", "fea", "dis", "oth", "xxx")
_LINE = re.compile(r"^\[\s*([0-9.]+)\s*-\s*([0-9.]+)\s*\]\s+(\S+)\s+(\S+)\s+\[")
_UTT = re.compile(r"^(Ses0[1-5])[FM]_.*_([FM])\d+$")


@dataclass(frozen=True)
class EmoUtterance:
    uid: str  # e.g. Ses01F_impro01_F000
    wav: Path
    session: int  # 1..5
    speaker: str  # e.g. Ses01F
    label: str  # corpus label (neu, exc, ...)
    emotion: str  # class of the four-emotion set
    start: float
    end: float


def speaker_of(uid: str, where: str = "") -> str:
    m = _UTT.match(uid)
    if not m:
        raise DatasetError(f"{where}: {uid!r} is not an IEMOCAP utterance name (Ses0N[FM]_..._[FM]NNN)")
    return m.group(1) + m.group(2)


def read_emo_evaluation(path) -> List[Tuple[str, str, float, float]]:
    """``(utterance, label, start, end)`` of every utterance line of one EmoEvaluation file."""
    path = Path(path)
    lines = read_lines(path)
    out = []
    for i, line in enumerate(lines, 1):
        if not line.startswith("["):
            continue
        m = _LINE.match(line)
        if not m:
            raise DatasetError(f"{path}:{i}: not an utterance line "
                               f"('[start - end]<TAB>name<TAB>label<TAB>[v, a, d]'): {line.strip()!r}")
        start, end, uid, label = float(m.group(1)), float(m.group(2)), m.group(3), m.group(4)
        if label not in KNOWN_LABELS:
            raise DatasetError(f"{path}:{i}: unknown emotion label {label!r} (known: {', '.join(KNOWN_LABELS)})")
        speaker_of(uid, f"{path}:{i}")
        out.append((uid, label, start, end))
    if not out:
        raise DatasetError(f"{path}: holds no utterance lines")
    return out


def _child(folder: Path, name: str) -> Optional[Path]:
    if not folder.is_dir():
        return None
    for p in folder.iterdir():
        if p.name.lower() == name.lower():
            return p
    return None


def iemocap_utterances(root, sessions: Sequence[int] = (1, 2, 3, 4, 5),
                       emotion_map: Mapping[str, str] = EMOTION_MAP) -> List[EmoUtterance]:
    """Every utterance of ``sessions`` whose label is in ``emotion_map``, sorted by name.

    A missing session folder, EmoEvaluation folder or labelled ``.wav`` is a
    :class:`DatasetError` naming it."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: IEMOCAP root folder does not exist")
    out = []
    for s in sessions:
        sess = _child(root, f"Session{s}")
        if sess is None:
            raise DatasetError(f"{root}: no Session{s}/ folder (expected the IEMOCAP release layout)")
        emo_dir = _child(_child(sess, "dialog") or sess / "dialog", "EmoEvaluation")
        if emo_dir is None:
            raise DatasetError(f"{sess / 'dialog' / 'EmoEvaluation'}: missing (the emotion labels live there)")
        files = sorted(p for p in emo_dir.iterdir() if p.is_file() and p.suffix.lower() == ".txt")
        if not files:
            raise DatasetError(f"{emo_dir}: no <dialog>.txt evaluation files")
        wav_root = sess / "sentences" / "wav"
        for f in files:
            for uid, label, start, end in read_emo_evaluation(f):
                if label not in emotion_map:
                    continue
                wav = wav_root / f.stem / f"{uid}.wav"
                if not wav.is_file():
                    raise DatasetError(f"{wav}: labelled in {f} but missing")
                out.append(EmoUtterance(uid, wav, s, speaker_of(uid, str(f)), label, emotion_map[label],
                                        start, end))
    if not out:
        raise DatasetError(f"{root}: no utterance with one of the labels {sorted(emotion_map)}")
    return sorted(out, key=lambda u: u.uid)


@dataclass(frozen=True)
class Fold:
    index: int
    test_speaker: str
    train: Tuple[str, ...]  # speakers
    dev: Tuple[str, ...]


def loso_folds(utts: Sequence[EmoUtterance], cv_sessions: Sequence[int] = (1, 2, 3, 4),
               dev_sessions: Sequence[int] = (5,)) -> List[Fold]:
    """One fold per speaker of ``cv_sessions`` (eight for sessions 1-4): that speaker
    is the test set, the other speakers of ``cv_sessions`` train, the speakers of
    ``dev_sessions`` are the development set of every fold."""
    cv = sorted({u.speaker for u in utts if u.session in cv_sessions})
    dev = tuple(sorted({u.speaker for u in utts if u.session in dev_sessions}))
    if len(cv) < 2:
        raise DatasetError(f"leave-one-speaker-out needs at least two speakers in sessions {list(cv_sessions)}, "
                           f"found {cv}")
    if not dev:
        raise DatasetError(f"no speaker in the development session(s) {list(dev_sessions)}")
    return [Fold(i, spk, tuple(s for s in cv if s != spk), dev) for i, spk in enumerate(cv)]
