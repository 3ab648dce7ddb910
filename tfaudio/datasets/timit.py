"""TIMIT reader: the corpus as it ships (``TRAIN|TEST/DR1..8/<speaker>/<utt>.WAV``).

* Audio is NIST SPHERE (16-bit PCM, 16 kHz), decoded by libsndfile; side files
  ``.PHN`` (``start end phone`` in samples), ``.WRD`` (``start end word``) and
  ``.TXT`` (``start end sentence``). File names are matched case-insensitively (copies
  of the corpus differ: ``.WAV`` / ``.wav``, ``DR1`` / ``dr1``).
* The standard sets: the 462-speaker training set without SA sentences (3696
  utterances), the 50-speaker development set (400) and the 24-speaker core test set
  (192), the latter two as fixed speaker lists (:data:`DEV_SPEAKERS`,
  :data:`CORE_TEST_SPEAKERS`) inside ``TEST/``.
* Phone sets: the 61 TIMIT phones map to 48 for training and to 39 for scoring
  (:data:`PHONE_MAP`); the glottal stop ``q`` is removed; silence is kept.

Every error is a :class:`~tfaudio.errors.DatasetError` naming the file (and line).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tfaudio.datasets.text import read_lines
from tfaudio.errors import DatasetError

#: 61 TIMIT phones -> (48-phone training set, 39-phone scoring set); ``q`` -> None (removed).
PHONE_MAP: Dict[str, Optional[Tuple[str, str]]] = {
    "aa": ("aa", "aa"), "ae": ("ae", "ae"), "ah": ("ah", "ah"), "ao": ("ao", "aa"),
    "aw": ("aw", "aw"), "ax": ("ax", "ah"), "ax-h": ("ax", "ah"), "axr": ("er", "er"),
    "ay": ("ay", "ay"), "b": ("b", "b"), "bcl": ("vcl", "sil"), "ch": ("ch", "ch"),
    "d": ("d", "d"), "dcl": ("vcl", "sil"), "dh": ("dh", "dh"), "dx": ("dx", "dx"),
    "eh": ("eh", "eh"), "el": ("el", "l"), "em": ("m", "m"), "en": ("en", "n"),
    "eng": ("ng", "ng"), "epi": ("epi", "sil"), "er": ("er", "er"), "ey": ("ey", "ey"),
    "f": ("f", "f"), "g": ("g", "g"), "gcl": ("vcl", "sil"), "h#": ("sil", "sil"),
    "hh": ("hh", "hh"), "hv": ("hh", "hh"), "ih": ("ih", "ih"), "ix": ("ix", "ih"),
    "iy": ("iy", "iy"), "jh": ("jh", "jh"), "k": ("k", "k"), "kcl": ("cl", "sil"),
    "l": ("l", "l"), "m": ("m", "m"), "n": ("n", "n"), "ng": ("ng", "ng"),
    "nx": ("n", "n"), "ow": ("ow", "ow"), "oy": ("oy", "oy"), "p": ("p", "p"),
    "pau": ("sil", "sil"), "pcl": ("cl", "sil"), "q": None, "r": ("r", "r"),
    "s": ("s", "s"), "sh": ("sh", "sh"), "t": ("t", "t"), "tcl": ("cl", "sil"),
    "th": ("th", "th"), "uh": ("uh", "uh"), "uw": ("uw", "uw"), "ux": ("uw", "uw"),
    "v": ("v", "v"), "w": ("w", "w"), "y": ("y", "y"), "z": ("z", "z"),
    "zh": ("zh", "sh"),
}
PHONES_61: Tuple[str, ...] = tuple(sorted(PHONE_MAP))
PHONES_48: Tuple[str, ...] = tuple(sorted({v[0] for v in PHONE_MAP.values() if v}))
PHONES_39: Tuple[str, ...] = tuple(sorted({v[1] for v in PHONE_MAP.values() if v}))
#: 48 -> 39 (what scoring applies to a decoded 48-phone string).
MAP_48_TO_39: Dict[str, str] = {v[0]: v[1] for v in PHONE_MAP.values() if v}

#: The standard 50-speaker development set (inside TEST/).
DEV_SPEAKERS: Tuple[str, ...] = tuple(s.upper() for s in """
faks0 fdac1 fjem0 mgwt0 mjar0 mmdb1 mmdm2 mpdf0 fcmh0 fkms0 mbdg0 mbwm0 mcsh0 fadg0
fdms0 fedw0 mgjf0 mglb0 mrtk0 mtaa0 mtdt0 mthc0 mwjg0 fnmr0 frew0 fsem0 mbns0 mmjr0
mdls0 mdlf0 mdvc0 mers0 fmah0 fdrw0 mrcs0 mrjm4 fcal1 mmwh0 fjsj0 majc0 mjsw0 mreb0
fgjd0 fjmg0 mroa0 mteb0 mjfc0 mrjr0 fmml0 mrws1""".split())
#: The 24-speaker core test set (two men and one woman per dialect region).
CORE_TEST_SPEAKERS: Tuple[str, ...] = tuple(s.upper() for s in """
mdab0 mwbt0 felc0 mtas1 mwew0 fpas0 mjmp0 mlnt0 fpkt0 mlll0 mtls0 fjlm0 mbpm0 mklt0
fnlp0 mcmj0 mjdh0 fmgd0 mgrt0 mnjm0 fdhc0 mjln0 mpam0 fmld0""".split())
SETS = ("train", "dev", "test")


@dataclass(frozen=True)
class Segment:
    start: int  # first sample
    end: int  # one past the last sample
    label: str


@dataclass(frozen=True)
class Utterance:
    wav: Path
    speaker: str  # upper case, e.g. "MDAB0"
    name: str  # upper case, e.g. "SI1136"
    dialect: str  # "DR1".."DR8"
    phones: Tuple[Segment, ...]  # 61-phone segments as in .PHN
    words: Tuple[Segment, ...]  # .WRD (empty if the file is absent)
    text: str  # sentence of .TXT ("" if absent)

    @property
    def uid(self) -> str:
        return f"{self.speaker}_{self.name}"


def map_phone(phone: str, to: int = 48, where: str = "") -> Optional[str]:
    """A 61-set phone in the 48- or 39-phone set (None for ``q``); an unknown phone
    is a :class:`DatasetError` naming ``where``."""
    if phone not in PHONE_MAP:
        raise DatasetError(f"{where}: unknown phone {phone!r} (not one of the 61 TIMIT phones)")
    pair = PHONE_MAP[phone]
    if pair is None:
        return None
    if to == 48:
        return pair[0]
    if to == 39:
        return pair[1]
    raise ValueError(f"phone set {to}: use 48 or 39")


def _segments(path: Path, check_phones: bool = False) -> Tuple[Segment, ...]:
    lines = read_lines(path)
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3:
            raise DatasetError(f"{path}:{i}: expected 'start end label', got {line.strip()!r}")
        try:
            s, e = int(parts[0]), int(parts[1])
        except ValueError:
            raise DatasetError(f"{path}:{i}: start and end must be sample numbers, got {line.strip()!r}") from None
        if e <= s or s < 0:
            raise DatasetError(f"{path}:{i}: segment end {e} is not after its start {s}")
        if check_phones and parts[2] not in PHONE_MAP:
            raise DatasetError(f"{path}:{i}: unknown phone {parts[2]!r} (not one of the 61 TIMIT phones)")
        out.append(Segment(s, e, parts[2]))
    if not out:
        raise DatasetError(f"{path}: holds no segments")
    return tuple(out)


def read_phn(path) -> Tuple[Segment, ...]:
    """``.PHN`` segments (61-phone labels, checked)."""
    return _segments(Path(path), check_phones=True)


def read_wrd(path) -> Tuple[Segment, ...]:
    return _segments(Path(path))


def read_txt(path) -> str:
    path = Path(path)
    try:
        parts = path.read_text(encoding="utf-8").split(maxsplit=2)
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    if len(parts) < 3:
        raise DatasetError(f"{path}: expected 'start end sentence'")
    return parts[2].strip()


def _children(folder: Path) -> Dict[str, Path]:
    """Entries of ``folder`` keyed by upper-case name (case-insensitive lookup)."""
    return {p.name.upper(): p for p in sorted(folder.iterdir())}


def _subset_dir(root: Path, name: str) -> Optional[Path]:
    return _children(root).get(name) if root.is_dir() else None


def find_utterances(root, subset: str) -> List[Tuple[str, str, str, Path]]:
    """``(dialect, speaker, utt, wav path)`` under ``root/<subset>/DR*/<speaker>/``,
    sorted; names upper case; any case of ``.WAV`` accepted."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: TIMIT root folder does not exist")
    sub = _subset_dir(root, subset.upper())
    if sub is None or not sub.is_dir():
        raise DatasetError(f"{root}: no {subset.upper()}/ folder (expected the TIMIT layout "
                           f"TRAIN|TEST/DR1..8/<speaker>/<utt>.WAV)")
    out = []
    for dr_name, dr in _children(sub).items():
        if not (dr.is_dir() and dr_name.startswith("DR")):
            continue
        for spk_name, spk in _children(dr).items():
            if not spk.is_dir():
                continue
            for fname, f in _children(spk).items():
                if fname.endswith(".WAV") and f.is_file():
                    out.append((dr_name, spk_name, fname[:-4], f))
    return sorted(out, key=lambda t: (t[1], t[2]))


def _side(wav: Path, ext: str) -> Optional[Path]:
    want = (wav.name[:-4] + ext).upper()
    for p in wav.parent.iterdir():
        if p.name.upper() == want:
            return p
    return None


#: How far (samples) the last phone may end before the audio does: one 25 ms frame at 16 kHz.
END_SLACK = 400


def _lines_of(path: Path) -> List[int]:
    """The file line number of each segment (blank lines are not segments)."""
    return [i for i, line in enumerate(read_lines(path), 1) if line.strip()]


def check_tiling(phn: Path, phones: Sequence[Segment], n_samples: int) -> None:
    """TIMIT's phone segments tile the waveform: the first starts at 0, each starts where
    the one before ends, the last ends at the audio's end (at most :data:`END_SLACK`
    samples before it). Anything else is a :class:`DatasetError` naming the line."""
    lines = _lines_of(phn)
    if phones[0].start != 0:
        raise DatasetError(f"{phn}:{lines[0]}: the first segment starts at sample {phones[0].start}, "
                           "not 0 (TIMIT's phone segments cover the whole file)")
    for k in range(1, len(phones)):
        prev, seg = phones[k - 1], phones[k]
        if seg.start < prev.start:
            raise DatasetError(f"{phn}:{lines[k]}: segment starts at {seg.start}, before the previous "
                               f"line's start {prev.start} (lines out of order)")
        if seg.start != prev.end:
            what = "overlaps the previous segment" if seg.start < prev.end else "leaves a gap after the previous segment"
            raise DatasetError(f"{phn}:{lines[k]}: segment {seg.start}-{seg.end} {what} "
                               f"(ends at {prev.end}); TIMIT's segments tile the waveform")
    end = phones[-1].end
    if end > n_samples:
        raise DatasetError(f"{phn}:{lines[-1]}: the last segment ends at sample {end}, past the "
                           f"audio's {n_samples} samples")
    if end < n_samples - END_SLACK:
        raise DatasetError(f"{phn}:{lines[-1]}: the last segment ends at sample {end}, {n_samples - end} "
                           f"samples before the audio's end ({n_samples}); is this the file's .PHN?")


def check_words(wrd: Path, words: Sequence[Segment], phones: Sequence[Segment]) -> None:
    """Words lie inside the phone segments' span, in order of their starts (pauses
    between words are allowed, as in TIMIT)."""
    lines = _lines_of(wrd)
    lo, hi = phones[0].start, phones[-1].end
    for k, w in enumerate(words):
        if w.start < lo or w.end > hi:
            raise DatasetError(f"{wrd}:{lines[k]}: word {w.label!r} ({w.start}-{w.end}) lies outside the "
                               f"phone segments ({lo}-{hi})")
        if k and w.start < words[k - 1].start:
            raise DatasetError(f"{wrd}:{lines[k]}: word {w.label!r} starts at {w.start}, before the "
                               f"previous line's start {words[k - 1].start} (lines out of order)")


def load_utterance(dialect: str, speaker: str, name: str, wav: Path) -> Utterance:
    """One utterance with its side files, checked against each other and the audio's length."""
    from tfaudio.audio.io import audio_info

    phn = _side(wav, ".PHN")
    if phn is None:
        raise DatasetError(f"{wav}: no .PHN file beside it (phone segments are needed for frame labels)")
    wrd, txt = _side(wav, ".WRD"), _side(wav, ".TXT")
    phones = read_phn(phn)
    info = audio_info(wav)
    # segments are in samples of the file's own rate
    check_tiling(phn, phones, int(info.frames))
    words = read_wrd(wrd) if wrd else ()
    if words:
        check_words(wrd, words, phones)
    return Utterance(wav=wav, speaker=speaker, name=name, dialect=dialect, phones=phones,
                     words=words, text=read_txt(txt) if txt else "")


def timit_set(root, which: str, include_sa: bool = False, skipped: Optional[list] = None) -> List[Utterance]:
    """One standard set: ``train`` (every TRAIN speaker), ``dev`` (TEST speakers of
    :data:`DEV_SPEAKERS`) or ``test`` (TEST speakers of :data:`CORE_TEST_SPEAKERS`),
    SA sentences excluded unless ``include_sa``. An unreadable audio file raises
    :class:`AudioError` naming it, unless ``skipped`` is a list: then the utterance is
    left out and ``(path, reason)`` appended to it."""
    from tfaudio.audio import AudioError

    if which not in SETS:
        raise ValueError(f"set {which!r}: use one of {SETS}")
    subset = "TRAIN" if which == "train" else "TEST"
    keep = None if which == "train" else set(DEV_SPEAKERS if which == "dev" else CORE_TEST_SPEAKERS)
    utts = []
    for dr, spk, name, wav in find_utterances(root, subset):
        if keep is not None and spk not in keep:
            continue
        if not include_sa and name.startswith("SA"):
            continue
        try:
            utts.append(load_utterance(dr, spk, name, wav))
        except AudioError as exc:
            if skipped is None:
                raise
            skipped.append((str(exc.path), exc.reason))
    if not utts:
        raise DatasetError(f"{root}: the TIMIT {which} set is empty (looked in {subset}/ for "
                           + ("any speaker" if keep is None else f"the {len(keep)} listed {which} speakers")
                           + ")")
    return utts

