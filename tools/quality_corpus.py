#!/usr/bin/env python3
"""Build a clean real-speech corpus and a folder of real recorded noises from Debian
bookworm packages, for training Quality-Net on recordings of people.

``python tools/quality_corpus.py --out DIR`` fetches every package below with
``apt-get download`` into ``DIR/debs/``, unpacks it with ``dpkg-deb -x`` into
``DIR/x/<package>/`` (nothing is installed; both are reused on the next run) and writes::

    DIR/clean/<speaker>/<item>.wav     16 kHz mono PCM-16, one folder per voice
    DIR/noise/<family>/<name>.wav      16 kHz mono PCM-16, 60 s, real recordings
    DIR/sources.csv     item, speaker, language, package, version, seconds, n_clips,
                        sources (";"-separated; "path@a-b" is the a-b s part of a clip;
                        "archive:member" is a file inside a zip/pk3/wz archive),
                        source_rate (sampling rate of the first source clip)
    DIR/speakers.csv    speaker, package, languages, sex (only where the source states
                        it), n_items, seconds, median_f0_hz (of the kept clips)
    DIR/noises.csv      file, family, package, version, sources, seconds
    DIR/packages.csv    package, version, licences (the ``License:`` values of
                        ``/usr/share/doc/<package>/copyright``, in order), role

Speaker = folder name, so a label maker that splits by folder splits by voice.
Same arguments -> byte-identical files. ``--list`` prints the packages, voices and
clip counts without writing audio.

Reserved packages: names starting with ``asterisk-`` or ``fillets-ng-data`` are kept
for independent evaluation; :func:`check_allowed` refuses them everywhere.

Clean speech (what is taken, and why)
-------------------------------------
* ``tuxpaint-stamps-default``: the spoken stamp descriptions ``*_desc_<lang>.ogg``
  (be, bg, ca, da, el, es, fr, lt, nl, ro, ru), one reader per language according to
  the upstream changelog (e.g. Bulgarian Krasimir Petkov, Belarusian Kseniya Buraya,
  Spanish Estefania Ortiz, Greek Kiriaki Serafeim, Catalan Pere Pujal). The French
  set is credited to two readers (Jacques Chion, later PaulK) that the files do not
  tell apart: one folder. ``symbols/math/`` is left out (numbers credited to the
  Schoolsplay project, not to the language's reader), and so are the English
  ``*_desc.ogg`` (66 clips, reader unknown).
* ``klettres-data``: letters and syllables, one folder per language (20), readers
  credited in the handbook. Brazilian Portuguese (father and son), Low Saxon and
  Spanish are credited to two readers each: one folder each, as they cannot be
  separated by file.
* ``ktuberling-data``: word recordings of 13 languages with >= 70 clips (ca, da, de,
  el, en, fr, gl, lt, nn, ru, sl, uk, wa). The small sets (about 13 words) of fi, ga,
  pt, ro, sr and sv are not clean speech: they are the babble talkers.
* ``hedgewars-data`` voice packs are not used: every pack, the gruff characters
  (Mobster, Pirate, HillBilly) included, has a median F0 of 255-280 Hz, the mark of
  pitch-shifted "hedgehog" voices or of one actor behind several packs (Classic and
  Default even share recordings).
* ``gcin-voice``: Mandarin syllables; ``*/3.ogg`` read by Edward Der-Hua Liu,
  ``*/5.ogg`` by Chu Lo (recorded for the ChionMeilin voice bank): two folders.
* ``0ad-data`` (inside ``public.zip``): ``audio/voice/<civ>/civ/*female*`` of the
  greek, latin, napatan and persian civilisations (sex stated by the file names).
* ``nexuiz-data`` (inside ``data.pk3``): the tutorial narration.
* Performed game-character voices are left out: the nexuiz announcer and player
  voices, the warzone2100 taunts, openarena's ``rott`` (and, earlier, the band-pass
  "radio" voices of nexuiz and warzone2100, monster and robotic voices, Festival
  text-to-speech). Sound designers process such lines (compression, distortion,
  effects), so a clip is not a clean reference and labelling it PESQ 4.64 teaches a
  non-intrusive model that processed speech is perfect. (Found in the first shipped
  model: these voices' own clean recordings were its lowest-scored clean items, 1.6-2.6
  against 3.5-4.3 for readings.) The 0ad civilian voices are kept: plain spoken
  lines, not verified by ear.
* Sources sampled below 16 kHz are rejected clip by clip ("narrow-band source"): a
  wide-band PESQ label needs a wide-band reference, and such a clip is audibly the
  band-limited condition (8 kHz clips of ktuberling and tuxpaint; warzone2100's
  narration, 11 kHz, is no longer taken).
* ``trigger-rally-data`` (inside ``data.zip``): co-driver calls of paula and tim.
  Left out: ``ab`` (heavily high-passed).
* ``pocketsphinx-testdata``: the LibriVox excerpts and the "cards" recordings.
* ``boswars-data``: the tutorial narration.

Clips: decoded, mixed to mono, clipped flat-tops rejected (on the source signal),
resampled to 16 kHz (soxr), leading/trailing digital silence trimmed, (near) silent
and unvoiced clips rejected (an autocorrelation voicing test: speech has voiced
frames). A clip of 1.5-8 s is one item; a longer one is cut at its quietest pauses
into 1.5-8 s parts; shorter clips of the same voice are joined, 0.25 s of silence
apart, into items of 2-6 s. Each clip is peak-normalised before joining and each item
to 0.5. ``--max-per-speaker`` (default 250) caps the items of one voice, so the
largest voices (a few hundred items each) do not dominate while small voices keep
all theirs; a voice with fewer than 5 items is dropped.

Noises (60 s each, looped or concatenated where the source is shorter)
----------------------------------------------------------------------
babble (word recordings of ktuberling's fi, ga, pt, ro, sr, sv talkers laid over each
other, none of them in ``clean/``), music (recorded game music), vehicle, nature,
street, crowd and machinery: ambience and effect recordings of game packages (see
``NOISES``). They are recordings according to the packages' folder names and
credits; each file has not been verified by ear.

Assumptions, not verified: one reader per package language unless credited
otherwise; voices of different folders are different people (the same person may
have recorded, e.g., ktuberling and klettres of one language).
"""
from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf

try:  # running as ``python tools/quality_corpus.py`` from a checkout
    from tfaudio.atomic import write_text
    from tfaudio.audio.io import resample, write_audio
except ImportError:  # pragma: no cover - the package is installed in the venv
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tfaudio.atomic import write_text
    from tfaudio.audio.io import resample, write_audio

RATE = 16000
MIN_S, MAX_S = 1.5, 8.0            # a clip of this length is an item on its own
JOIN_MIN_S, JOIN_MAX_S = 2.0, 6.0  # joined items
PAUSE_S = 0.25
PEAK = 0.5
MIN_ITEMS = 5
NOISE_S = 60.0
DEFAULT_MAX_PER_SPEAKER = 250
RESERVED_PREFIXES = ("asterisk-", "fillets-ng-data")
AUDIO_EXT = (".wav", ".ogg", ".opus", ".flac")


class CorpusError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def check_allowed(package: str) -> str:
    """Refuse packages reserved for independent evaluation."""
    if package.startswith(RESERVED_PREFIXES):
        raise CorpusError(f"package {package!r} is reserved for independent evaluation "
                          f"and must not be used to build training data")
    return package


# ---------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class Voice:
    """One speaker folder: files matching ``patterns`` in one package's tree.

    A pattern is a glob relative to the unpacked tree, or ``ARCHIVE::GLOB`` for
    members of a zip-format archive (zip, pk3, wz) at ``ARCHIVE`` in the tree.
    ``exclude`` is a regular expression matched against the file stem."""
    speaker: str
    package: str
    language: str
    patterns: Tuple[str, ...]
    sex: str = ""
    exclude: str = ""
    skip_dirs: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Noise:
    family: str
    name: str
    package: str
    patterns: Tuple[str, ...]
    start_s: float = 0.0


@dataclass(frozen=True)
class Babble:
    family: str
    name: str
    package: str
    talkers: Tuple[Tuple[str, str], ...]   # (talker, pattern)
    n_talkers: int


TUX = "usr/share/tuxpaint/stamps"
KL = "usr/share/klettres"
KT = "usr/share/ktuberling/sounds"
OAD = "usr/share/games/0ad/mods/public/public.zip"
NEX = "usr/share/games/nexuiz/data/data.pk3"
TR = "usr/share/games/trigger-rally/data.zip"
MG = "usr/share/games/megaglest"
RE = "usr/share/games/redeclipse/data/sounds"
LC = "usr/share/games/lincity-ng/sounds"
UFO = "usr/share/games/ufoai/base/0snd.pk3"


def _voices() -> List[Voice]:
    v: List[Voice] = []
    for lang in ("be", "bg", "ca", "da", "el", "es", "fr", "lt", "nl", "ro", "ru"):
        v.append(Voice(f"tuxpaint-{lang}", "tuxpaint-stamps-default", lang,
                       (f"{TUX}/**/*_desc_{lang}.ogg",), skip_dirs=(f"{TUX}/symbols/math",)))
    for lang in ("ar", "cs", "da", "de", "en", "en_GB", "es", "fr", "he", "hu", "it", "lt",
                 "ml", "nb", "nds", "nl", "pt_BR", "ru", "tn", "uk"):
        v.append(Voice(f"klettres-{lang.replace('_', '')}", "klettres-data", lang,
                       (f"{KL}/{lang}/alpha/*.ogg", f"{KL}/{lang}/syllab/*.ogg")))
    for lang in ("ca", "da", "de", "el", "en", "fr", "gl", "lt", "nn", "ru", "sl", "uk",
                 "wa"):
        v.append(Voice(f"ktuberling-{lang}", "ktuberling-data", lang,
                       tuple(f"{KT}/{lang}/*{e}" for e in AUDIO_EXT)))
    v.append(Voice("gcin-liu", "gcin-voice", "zh", ("usr/share/gcin-voice/ogg/*/3.ogg",)))
    v.append(Voice("gcin-chulo", "gcin-voice", "zh", ("usr/share/gcin-voice/ogg/*/5.ogg",)))
    for civ, lang in (("greek", "grc"), ("latin", "la"), ("napatan", "egx"),
                      ("persian", "peo")):
        v.append(Voice(f"0ad-{civ}-female", "0ad-data", lang,
                       (f"{OAD}::audio/voice/{civ}/civ/*female*.ogg",), sex="female"))
    v.append(Voice("nexuiz-tutorial", "nexuiz-data", "en", (f"{NEX}::sound/tutorial/*.ogg",)))
    for who in ("paula", "tim"):
        v.append(Voice(f"triggerrally-{who}", "trigger-rally-data", "en",
                       (f"{TR}::sounds/codriver/{who}/*.wav",)))
    v.append(Voice("pocketsphinx-librivox", "pocketsphinx-testdata", "en",
                   ("usr/share/pocketsphinx/test/data/librivox/*.wav",)))
    v.append(Voice("pocketsphinx-cards", "pocketsphinx-testdata", "en",
                   ("usr/share/pocketsphinx/test/data/cards/*.wav",)))
    v.append(Voice("boswars-tutorial", "boswars-data", "en",
                   ("usr/share/games/boswars/campaigns/tutorial/*.wav",)))
    return v


def _noises() -> List[Noise]:
    n = [
        # music: recorded tracks, 60 s from 30 s in
        Noise("music", "0ad-alba-longa-burns", "0ad-data",
              (f"{OAD}::audio/music/Alba_Longa_Burns.ogg",), 30.0),
        Noise("music", "0ad-albian-nocturne", "0ad-data",
              (f"{OAD}::audio/music/Albian_Nocturne.ogg",), 30.0),
        Noise("music", "hedgewars-brick", "hedgewars-data",
              ("usr/share/games/hedgewars/Data/Music/Brick.ogg",), 30.0),
        Noise("music", "supertux-shallow-green", "supertux-data",
              ("usr/share/games/supertux2/music/forest/shallow-green.ogg",), 30.0),
        Noise("music", "marsshooter-ezer-ev", "marsshooter-data",
              ("usr/share/games/marsshooter/audio/music/01_-_Ezer_Ev.ogg",), 30.0),
        Noise("music", "colobot-humanitarian", "colobot-common-sounds",
              ("usr/share/games/colobot/music/Humanitarian.ogg",), 30.0),
        Noise("music", "lincity-city-blues", "lincity-ng-data",
              ("usr/share/games/lincity-ng/music/default/02 - Robert van Herk - City Blues.ogg",),
              30.0),
        Noise("music", "freedroidrpg-temple", "freedroidrpg-data",
              ("usr/share/freedroidrpg/data/sound/music/temple.ogg",), 30.0),
        # nature: wind, rain, water, forest, night
        Noise("nature", "lugaru-wind", "lugaru-data", ("usr/share/games/lugaru/Sounds/Wind.ogg",)),
        Noise("nature", "megaglest-winter-wind", "megaglest-data",
              (f"{MG}/tilesets/winter/sounds/wind.ogg",)),
        Noise("nature", "megaglest-birch-forest-rain", "megaglest-data",
              (f"{MG}/tilesets/birch_forest/sounds/rain.ogg",)),
        Noise("nature", "megaglest-fernland-night", "megaglest-data",
              (f"{MG}/tilesets/fernland/sounds/night.ogg",), 10.0),
        Noise("nature", "megaglest-spring-day", "megaglest-data",
              (f"{MG}/tilesets/spring/sounds/day.ogg",)),
        Noise("nature", "redeclipse-river", "redeclipse-data", (f"{RE}/ambience/river.ogg",)),
        Noise("nature", "redeclipse-waterfall", "redeclipse-data",
              (f"{RE}/ambience/waterfall2.ogg",)),
        Noise("nature", "btanks-forest", "btanks-data",
              ("usr/share/games/btanks/data/sounds/ambient/forest.ogg",), 10.0),
        Noise("nature", "0ad-rain", "0ad-data", (f"{OAD}::audio/ambient/weather/rain_11.ogg",)),
        Noise("nature", "0ad-river", "0ad-data", (f"{OAD}::audio/ambient/water/river_fast_21.ogg",)),
        Noise("nature", "supertux-rain", "supertux-data",
              ("usr/share/games/supertux2/sounds/rain.wav",)),
        # street / traffic
        Noise("street", "btanks-city", "btanks-data",
              ("usr/share/games/btanks/data/sounds/ambient/city.ogg",)),
        Noise("street", "redeclipse-distant-cars", "redeclipse-data",
              (f"{RE}/ambience/distant_cars.ogg",)),
        Noise("street", "scratch-passing", "scratch",
              ("usr/share/scratch/Media/Sounds/Effects/CarPassing.wav",
               "usr/share/scratch/Media/Sounds/Effects/MotorcyclePassing.wav")),
        Noise("street", "lincity-traffic", "lincity-ng-data", (f"{LC}/TraficLow*.wav",)),
        # crowd
        Noise("crowd", "tuxfootball-crowd", "tuxfootball",
              ("usr/share/games/tuxfootball/sound/crowdcheer.wav",
               "usr/share/games/tuxfootball/sound/crowdboo.wav")),
        Noise("crowd", "lincity-sports-crowd", "lincity-ng-data", (f"{LC}/SportsCroud*.wav",)),
        Noise("crowd", "lincity-market", "lincity-ng-data", (f"{LC}/Market*.wav",)),
        Noise("crowd", "foobillard-applause", "foobillardplus-data",
              ("usr/share/games/foobillardplus/data/applause.wav",)),
        # vehicle / engine
        Noise("vehicle", "supertuxkart-steam-locomotive", "supertuxkart-data",
              ("usr/share/games/supertuxkart/data/library/stklib_steamLocomotive_a/"
               "steamLocomotive.ogg",)),
        Noise("vehicle", "btanks-train", "btanks-data",
              ("usr/share/games/btanks/data/sounds/train.ogg",)),
        Noise("vehicle", "torcs-porsche-engine", "torcs-data",
              ("usr/share/games/torcs/data/sound/porsche_engine.wav",)),
        Noise("vehicle", "torcs-impreza-engine", "torcs-data",
              ("usr/share/games/torcs/data/sound/impreza2002_engine.wav",)),
        Noise("vehicle", "lincity-rail", "lincity-ng-data", (f"{LC}/RailTrain*.wav",)),
        Noise("vehicle", "ufoai-diesel", "ufoai-sound",
              (f"{UFO}::sound/ugv/diesel-idle.ogg", f"{UFO}::sound/ugv/diesel-move.ogg")),
        # machinery / household
        Noise("machinery", "tuxpaint-household", "tuxpaint-stamps-default",
              (f"{TUX}/household/vacuum_cleaner.ogg", f"{TUX}/household/Washing-machine.ogg",
               f"{TUX}/household/kettle.ogg")),
        Noise("machinery", "nexuiz-generator", "nexuiz-data",
              (f"{NEX}::sound/desertfactory/generator_loop.wav",)),
        Noise("machinery", "lincity-industry", "lincity-ng-data",
              (f"{LC}/IndustryLight*.wav", f"{LC}/CoalMine*.wav", f"{LC}/OreMine*.wav")),
        Noise("machinery", "cube2-chainsaw", "cube2-data",
              ("usr/share/games/cube2/packages/sounds/audioaugust/chainsaw/idle.ogg",)),
    ]
    return n


BABBLE_TALKERS = tuple((lang, f"{KT}/{lang}/*") for lang in ("fi", "ga", "pt", "ro", "sr", "sv"))


def _babbles() -> List[Babble]:
    return [Babble("babble", f"ktuberling-{k}talkers", "ktuberling-data", BABBLE_TALKERS, k)
            for k in (3, 4, 5, 6)]


VOICES = _voices()
NOISES = _noises()
BABBLES = _babbles()


def packages_of(voices: Sequence[Voice], noises: Sequence[Noise],
                babbles: Sequence[Babble]) -> Dict[str, List[str]]:
    """{package: roles}; every name passes :func:`check_allowed`."""
    roles: Dict[str, List[str]] = {}
    for v in voices:
        roles.setdefault(check_allowed(v.package), [])
        if "speech" not in roles[v.package]:
            roles[v.package].append("speech")
    for n in list(noises) + list(babbles):
        roles.setdefault(check_allowed(n.package), [])
        if "noise" not in roles[n.package]:
            roles[n.package].append("noise")
    return dict(sorted(roles.items()))


# ----------------------------------------------------------------------------- fetch
def _run(cmd: List[str], cwd: Optional[Path] = None) -> str:
    try:
        r = subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise CorpusError(f"{cmd[0]} not found: run on a Debian system with apt/dpkg") from exc
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or exc.stdout or "").strip().splitlines()[-1:] or [""]
        raise CorpusError(f"{' '.join(cmd)} failed: {last[0]}") from exc
    return r.stdout


def deb_of(debs: Path, package: str) -> Optional[Path]:
    have = sorted(debs.glob(f"{package}_*.deb"))
    return have[-1] if have else None


def fetch(packages: Iterable[str], debs: Path, root: Path, log=print) -> Dict[str, str]:
    """Download (once) and unpack (once) each package; returns {package: version}."""
    debs.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    packages = list(packages)
    versions = {}
    for i, pkg in enumerate(packages, 1):
        check_allowed(pkg)
        deb = deb_of(debs, pkg)
        how = "cached"
        if deb is None:
            _run(["apt-get", "download", pkg], cwd=debs)
            deb = deb_of(debs, pkg)
            if deb is None:
                raise CorpusError(f"apt-get download {pkg} left no .deb in {debs}")
            how = "downloaded"
        versions[pkg] = _run(["dpkg-deb", "-f", str(deb), "Version"]).strip()
        dest = root / pkg
        if not dest.is_dir():
            tmp = root / f".{pkg}.unpack{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            _run(["dpkg-deb", "-x", str(deb), str(tmp)])
            os.replace(tmp, dest)
            how += ", unpacked"
        log(f"[{i}/{len(packages)}] {pkg} {versions[pkg]}: {how}")
    return versions


def licences(tree: Path, package: str) -> List[str]:
    """``License:`` values of the package's copyright file, in order, without repeats."""
    cp = tree / "usr/share/doc" / package / "copyright"
    if not cp.exists():
        found = sorted((tree / "usr/share/doc").glob("*/copyright"))
        if not found:
            return []
        cp = found[0]
    text = cp.read_text(errors="replace")
    out: List[str] = []
    for line in text.splitlines():
        if line.startswith("License:"):
            value = line.split(":", 1)[1].strip()
            if value and value not in out:
                out.append(value)
    if not out:  # a free-form copyright file: name the licence its prose states
        flat = " ".join(text.split())
        m = re.search(r"GNU General Public License[^.]*?version (\d)", flat)
        if m:
            later = "+" if re.search(r"any later version", flat) else ""
            out.append(f"GPL-{m.group(1)}{later} (free-form copyright file)")
        else:
            out.append("unstated (free-form copyright file)")
    return out


# ----------------------------------------------------------------------------- files
@dataclass(frozen=True, order=True)
class Clip:
    """One source file: ``path`` inside the package tree; ``member`` inside an archive."""
    package: str
    path: str
    member: str = ""

    def label(self) -> str:
        return "/" + self.path + (":" + self.member if self.member else "")


_ZIPS: Dict[str, zipfile.ZipFile] = {}


def _zip(path: Path) -> zipfile.ZipFile:
    key = str(path)
    if key not in _ZIPS:
        _ZIPS[key] = zipfile.ZipFile(key)
    return _ZIPS[key]


def list_clips(root: Path, package: str, patterns: Sequence[str],
               exclude: str = "", skip_dirs: Sequence[str] = ()) -> List[Clip]:
    """Sorted, de-duplicated (by content) files matching ``patterns``."""
    tree = root / package
    found: List[Clip] = []
    for pat in patterns:
        if "::" in pat:
            arc, glob = pat.split("::", 1)
            if not (tree / arc).is_file():
                continue
            for name in sorted(_zip(tree / arc).namelist()):
                if fnmatch.fnmatchcase(name, glob) and name.lower().endswith(AUDIO_EXT):
                    found.append(Clip(package, arc, name))
        else:
            for p in sorted(tree.glob(pat)):
                rel = p.relative_to(tree).as_posix()
                if p.is_file() and p.suffix.lower() in AUDIO_EXT and not any(
                        rel.startswith(d + "/") for d in skip_dirs):
                    found.append(Clip(package, rel))
    if exclude:
        rx = re.compile(exclude)
        found = [c for c in found if not rx.match(Path(c.member or c.path).stem)]
    out, seen = [], set()
    for c in sorted(set(found)):
        digest = content_digest(root, c)
        if digest is None or digest not in seen:  # an unreadable file is kept: decoding
            seen.add(digest)                      # rejects it, and says so
            out.append(c)
    return out


def content_digest(root: Path, clip: Clip) -> Optional[str]:
    try:
        return hashlib.sha1(read_bytes(root, clip)).hexdigest()
    except (OSError, zipfile.BadZipFile, KeyError):
        return None


def read_bytes(root: Path, clip: Clip) -> bytes:
    tree = root / clip.package
    if clip.member:
        return _zip(tree / clip.path).read(clip.member)
    return (tree / clip.path).read_bytes()


def decode(root: Path, clip: Clip) -> Tuple[np.ndarray, int]:
    """(mono float64 samples, rate) of a clip."""
    try:
        data = read_bytes(root, clip)
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"unreadable ({exc})") from exc
    try:
        x, sr = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    except Exception as exc:  # libsndfile raises several types; the clip is rejected
        raise ValueError(f"undecodable ({exc})") from exc
    if x.shape[0] == 0:
        raise ValueError("empty")
    return x.mean(axis=1), int(sr)


# --------------------------------------------------------------------- signal checks
def frame_db(x: np.ndarray, frame: int = RATE // 100) -> np.ndarray:
    """RMS level (dBFS) of consecutive ``frame``-sample frames."""
    n = len(x) // frame
    if n == 0:
        return np.full(1, 20 * np.log10(np.sqrt(np.mean(x ** 2)) + 1e-12))
    f = x[: n * frame].reshape(n, frame)
    return 20 * np.log10(np.sqrt(np.mean(f ** 2, axis=1)) + 1e-12)


def trim_silence(x: np.ndarray, floor_db: float = -60.0, below_peak_db: float = 50.0,
                 margin_frames: int = 2) -> np.ndarray:
    """Cut leading/trailing frames that are digital silence: below ``floor_db`` dBFS or
    more than ``below_peak_db`` under the loudest 10 ms frame."""
    frame = RATE // 100
    db = frame_db(x, frame)
    thr = max(floor_db, float(db.max()) - below_peak_db)
    on = np.flatnonzero(db >= thr)
    if on.size == 0:
        return x[:0]
    a = max(0, (on[0] - margin_frames) * frame)
    b = min(len(x), (on[-1] + 1 + margin_frames) * frame)
    return x[a:b]


def is_clipped(x: np.ndarray, level: float = 0.9, near: float = 0.98,
               min_count: int = 50, min_share: float = 0.002) -> bool:
    """Flat tops: a loud clip (peak >= ``level``) many of whose samples sit at the peak."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak < level:
        return False
    at_top = int(np.count_nonzero(np.abs(x) >= near * peak))
    return at_top >= max(min_count, int(min_share * x.size))


def voicing(x: np.ndarray, frame: int = 512, hop: int = 256, fmin: float = 60.0,
            fmax: float = 400.0, thr: float = 0.45) -> Tuple[float, int, float]:
    """(share of active frames that are voiced, voiced frames, median F0 in Hz).

    Active = within 35 dB of the loudest frame; voiced = normalised autocorrelation
    peak >= ``thr`` at a lag of ``fmin``..``fmax``."""
    if len(x) < frame:
        return 0.0, 0, 0.0
    n = 1 + (len(x) - frame) // hop
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    f = x[idx] * np.hanning(frame)[None, :]
    energy = np.sum(f ** 2, axis=1)
    db = 10 * np.log10(energy + 1e-12)
    active = db >= db.max() - 35.0
    f = f[active]
    if f.shape[0] == 0:
        return 0.0, 0, 0.0
    spec = np.fft.rfft(f, n=2 * frame, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :frame]
    ac = ac / (ac[:, :1] + 1e-12)
    lo, hi = int(RATE / fmax), int(RATE / fmin)
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    peak = ac[np.arange(ac.shape[0]), lag]
    voiced = peak >= thr
    nv = int(voiced.sum())
    f0 = float(np.median(RATE / lag[voiced])) if nv else 0.0
    return nv / f.shape[0], nv, f0


@dataclass
class Prepared:
    clip: Clip
    reason: str = ""                  # "" = kept
    audio: Optional[np.ndarray] = None  # 16 kHz, trimmed, peak-normalised (float32)
    rate: int = 0
    f0: float = 0.0


def prepare(x: np.ndarray, sr: int, clip: Clip) -> Prepared:
    """Checks and conditioning of one decoded clip (see module docstring)."""
    if sr < RATE:
        return Prepared(clip, "narrow-band source", rate=sr)
    if is_clipped(x):
        return Prepared(clip, "clipped", rate=sr)
    y = resample(x.astype(np.float32), sr, RATE).astype(np.float64)
    if float(np.max(np.abs(y))) < 10 ** (-50 / 20):
        return Prepared(clip, "silent", rate=sr)
    y = trim_silence(y)
    if len(y) < int(0.15 * RATE):
        return Prepared(clip, "silent", rate=sr)
    share, nv, f0 = voicing(y)
    if share < 0.15 or nv < 3:
        return Prepared(clip, "not speech", rate=sr)
    return Prepared(clip, "", (y * (PEAK / np.max(np.abs(y)))).astype(np.float32), sr, f0)


def _fresh_archives() -> None:
    """Worker initialiser: a forked process must not share the parent's open archive
    files (their file offsets are shared between processes)."""
    global _ZIPS
    _ZIPS = {}


def _prepare_job(args) -> Prepared:
    root, clip = args
    try:
        x, sr = decode(Path(root), clip)
    except ValueError as exc:
        return Prepared(clip, str(exc).split(" (")[0])
    return prepare(x, sr, clip)


# ----------------------------------------------------------------------------- items
@dataclass
class Part:
    clip: Clip
    start: int   # samples at 16 kHz within the prepared clip
    stop: int
    whole: bool


@dataclass
class Item:
    speaker: str
    name: str
    parts: List[Part]
    audio: np.ndarray = field(repr=False)


def split_long(y: np.ndarray, max_s: float = MAX_S, min_s: float = MIN_S,
               pause_db: float = -30.0) -> List[Tuple[int, int]]:
    """Cut a clip longer than ``max_s`` at its quietest 10 ms frames (at least
    ``pause_db`` under the loudest frame) into parts of ``min_s``..``max_s``."""
    frame = RATE // 100
    db = frame_db(y, frame)
    ref = float(db.max())
    cuts, start, n = [], 0, len(db)
    max_f, min_f = int(max_s * 100), int(min_s * 100)
    while n - start > max_f:
        lo, hi = start + min_f, min(start + max_f, n - min_f)
        if hi <= lo:
            break
        k = lo + int(np.argmin(db[lo:hi]))
        if db[k] > ref + pause_db:
            break
        cuts.append((start, k))
        start = k + 1
    if min_f <= n - start <= max_f:
        cuts.append((start, n))
    return [(a * frame, min(len(y), b * frame)) for a, b in cuts]


def make_items(speaker: str, clips: Sequence[Prepared], rng: np.random.Generator,
               max_items: int) -> List[Item]:
    """Items of one voice: alone (1.5-8 s), parts of long clips, joined short clips."""
    pause = np.zeros(int(PAUSE_S * RATE), dtype=np.float32)
    groups: List[List[Part]] = []
    short: List[Prepared] = []
    for p in clips:
        d = len(p.audio) / RATE
        if d < MIN_S:
            short.append(p)
        elif d <= MAX_S:
            groups.append([Part(p.clip, 0, len(p.audio), True)])
        else:
            for a, b in split_long(p.audio):
                groups.append([Part(p.clip, a, b, False)])
    cur: List[Prepared] = []
    t, target = 0.0, float(rng.uniform(JOIN_MIN_S, JOIN_MAX_S))
    for i in rng.permutation(len(short)):
        p = short[int(i)]
        d = len(p.audio) / RATE
        if cur and t + PAUSE_S + d > JOIN_MAX_S:
            if t >= JOIN_MIN_S:
                groups.append([Part(q.clip, 0, len(q.audio), True) for q in cur])
            cur, t = [], 0.0
            target = float(rng.uniform(JOIN_MIN_S, JOIN_MAX_S))
        t += d + (PAUSE_S if cur else 0.0)
        cur.append(p)
        if t >= target:
            groups.append([Part(q.clip, 0, len(q.audio), True) for q in cur])
            cur, t = [], 0.0
            target = float(rng.uniform(JOIN_MIN_S, JOIN_MAX_S))
    if cur and t >= JOIN_MIN_S:
        groups.append([Part(q.clip, 0, len(q.audio), True) for q in cur])
    if len(groups) > max_items:
        keep = np.sort(rng.choice(len(groups), size=max_items, replace=False))
        groups = [groups[int(k)] for k in keep]
    audio_of = {p.clip: p.audio for p in clips}
    items = []
    for k, g in enumerate(groups):
        chunks = []
        for j, part in enumerate(g):
            if j:
                chunks.append(pause)
            seg = audio_of[part.clip][part.start:part.stop]
            chunks.append(seg if part.whole else seg * (PEAK / max(np.max(np.abs(seg)), 1e-9)))
        x = np.concatenate(chunks)
        x = x * (PEAK / max(float(np.max(np.abs(x))), 1e-9))
        stem = safe_name(Path(g[0].clip.member or g[0].clip.path).stem)
        name = f"{k:04d}-{stem}" if len(g) == 1 else f"{k:04d}-joined{len(g)}"
        items.append(Item(speaker, name, g, x.astype(np.float32)))
    return items


def safe_name(s: str, limit: int = 40) -> str:
    """Filesystem-safe ASCII: letters, digits, '-', '_' (others become '_')."""
    s = re.sub(r"[^A-Za-z0-9_-]+", "_", s.encode("ascii", "replace").decode()).strip("_")
    if not s:
        s = "x" + hashlib.sha1(s.encode()).hexdigest()[:6]
    return s[:limit]


def seed_for(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


# ----------------------------------------------------------------------------- noise
def _loop(x: np.ndarray, n: int, start: int = 0) -> np.ndarray:
    return x[(np.arange(n) + start) % len(x)]


def load16(root: Path, clip: Clip) -> np.ndarray:
    x, sr = decode(root, clip)
    y = resample(x.astype(np.float32), sr, RATE).astype(np.float64)
    return y


def build_noise(root: Path, noise: Noise, seconds: float = NOISE_S
                ) -> Tuple[np.ndarray, List[Clip]]:
    clips = list_clips(root, noise.package, noise.patterns)
    if not clips:
        raise CorpusError(f"noise {noise.family}/{noise.name}: no file matches "
                          f"{noise.patterns} in {noise.package}")
    parts = []
    for c in clips:
        y = load16(root, c)  # ValueError: the caller skips this noise and reports it
        parts.append(y / max(float(np.max(np.abs(y))), 1e-9))
    x = np.concatenate(parts)
    n = int(seconds * RATE)
    start = int(noise.start_s * RATE)
    if len(x) >= start + n:
        y = x[start:start + n]
    else:
        y = _loop(x, n, start if len(x) > start else 0)
    return y * (PEAK / max(float(np.max(np.abs(y))), 1e-9)), clips


def build_babble(root: Path, babble: Babble, seed: int, seconds: float = NOISE_S
                 ) -> Tuple[np.ndarray, List[Clip]]:
    """``n_talkers`` talkers (chosen with ``seed``), each a track of its word
    recordings at equal RMS with 0-0.3 s gaps, laid over each other."""
    rng = seed_for(seed, babble.name)
    order = rng.permutation(len(babble.talkers))[: babble.n_talkers]
    n = int(seconds * RATE)
    mix = np.zeros(n)
    used: List[Clip] = []
    for t in sorted(int(i) for i in order):
        _, pat = babble.talkers[t]
        clips = list_clips(root, babble.package, (pat,))
        clips = [c for c in clips if Path(c.path).suffix.lower() in AUDIO_EXT]
        if not clips:
            raise CorpusError(f"babble talker {pat} has no audio in {babble.package}")
        words = []
        for c in clips:
            y = trim_silence(load16(root, c))
            if len(y):
                words.append(y / (np.sqrt(np.mean(y ** 2)) + 1e-9))
        used.extend(clips)
        track, pos = np.zeros(n), int(rng.integers(0, int(0.5 * RATE)))
        while pos < n:
            w = words[int(rng.integers(len(words)))]
            m = min(len(w), n - pos)
            track[pos:pos + m] = w[:m]
            pos += m + int(rng.integers(0, int(0.3 * RATE)))
        mix += track
    return mix * (PEAK / max(float(np.max(np.abs(mix))), 1e-9)), used


# ----------------------------------------------------------------------------- build
def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    write_text(path, buf.getvalue())


def _fresh(path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.build{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def _swap(tmp: Path, final: Path) -> None:
    old = final.with_name(f".{final.name}.old{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def collect(root: Path, voices: Sequence[Voice], log=print) -> Dict[str, List[Clip]]:
    """{speaker: clips}; a file already in another voice is left out there."""
    out: Dict[str, List[Clip]] = {}
    seen: Dict[str, str] = {}
    for v in voices:
        clips = []
        for c in list_clips(root, v.package, v.patterns, v.exclude, v.skip_dirs):
            digest = content_digest(root, c)
            if digest is not None and digest in seen:
                log(f"  {v.speaker}: {c.label()} is the same file as one of {seen[digest]}; "
                    f"kept there only")
                continue
            if digest is not None:
                seen[digest] = v.speaker
            clips.append(c)
        out[v.speaker] = clips
    return out


def build(out: Path, voices: Sequence[Voice] = VOICES, noises: Sequence[Noise] = NOISES,
          babbles: Sequence[Babble] = BABBLES, seed: int = 0,
          max_per_speaker: int = DEFAULT_MAX_PER_SPEAKER, workers: int = 2,
          versions: Optional[Dict[str, str]] = None, log=print) -> dict:
    """Write ``clean/``, ``noise/`` and the CSV files under ``out`` (trees in ``out/x``)."""
    root = out / "x"
    roles = packages_of(voices, noises, babbles)
    if versions is None:
        versions = fetch(roles, out / "debs", root, log)
    clips_of = collect(root, voices, log)
    clean = _fresh(out / "clean")
    src_rows, spk_rows, stats = [], [], {"items": 0, "seconds": 0.0, "rejected": {}}
    pool = ProcessPoolExecutor(workers, initializer=_fresh_archives) if workers > 1 else None
    try:
        by_pkg: Dict[str, List[Voice]] = {}
        for v in voices:
            by_pkg.setdefault(v.package, []).append(v)
        for pkg, pvoices in by_pkg.items():
            n_items, n_sec, n_clips, n_rej = 0, 0.0, 0, 0
            for v in pvoices:
                jobs = [(str(root), c) for c in clips_of[v.speaker]]
                prepared = list(pool.map(_prepare_job, jobs, chunksize=8) if pool
                                else map(_prepare_job, jobs))
                kept = [p for p in prepared if not p.reason]
                for p in prepared:
                    if p.reason:
                        stats["rejected"].setdefault(p.reason, []).append(
                            f"{v.speaker}: {p.clip.label()}")
                n_clips += len(prepared)
                n_rej += len(prepared) - len(kept)
                items = make_items(v.speaker, kept, seed_for(seed, v.speaker), max_per_speaker)
                if len(items) < MIN_ITEMS:
                    log(f"  {v.speaker}: {len(items)} items (< {MIN_ITEMS}), voice dropped")
                    continue
                rate_of = {p.clip: p.rate for p in kept}
                secs = 0.0
                for it in items:
                    write_audio(str(clean / v.speaker / f"{it.name}.wav"), it.audio, RATE)
                    s = len(it.audio) / RATE
                    secs += s
                    src_rows.append([f"{v.speaker}/{it.name}.wav", v.speaker, v.language, pkg,
                                     versions[pkg], f"{s:.2f}", len(it.parts),
                                     ";".join(_part_label(p) for p in it.parts),
                                     rate_of[it.parts[0].clip]])
                f0s = [p.f0 for p in kept if p.f0 > 0]
                spk_rows.append([v.speaker, pkg, v.language, v.sex, len(items), f"{secs:.1f}",
                                 f"{np.median(f0s):.0f}" if f0s else ""])
                n_items += len(items)
                n_sec += secs
            log(f"{pkg} {versions[pkg]}: {n_clips} clips ({n_rej} rejected) -> "
                f"{n_items} items, {n_sec / 60:.1f} min")
            stats["items"] += n_items
            stats["seconds"] += n_sec
    finally:
        if pool:
            pool.shutdown()
    _swap(clean, out / "clean")

    noise_dir = _fresh(out / "noise")
    noise_rows = []
    for b in babbles:
        y, used = build_babble(root, b, seed)
        noise_rows.append(_noise_row(noise_dir, b.family, b.name, b.package, versions, used, y))
    for nz in noises:
        try:
            y, used = build_noise(root, nz)
        except ValueError as exc:
            log(f"  noise {nz.family}/{nz.name} skipped: {exc}")
            stats["rejected"].setdefault("noise skipped", []).append(
                f"{nz.family}/{nz.name}: {exc}")
            continue
        noise_rows.append(_noise_row(noise_dir, nz.family, nz.name, nz.package, versions,
                                     used, y))
    log(f"noise: {len(noise_rows)} files in "
        f"{len({r[1] for r in noise_rows})} families")
    _swap(noise_dir, out / "noise")

    _write_csv(out / "sources.csv", ["item", "speaker", "language", "package", "version",
                                     "seconds", "n_clips", "sources", "source_rate"], src_rows)
    _write_csv(out / "speakers.csv", ["speaker", "package", "languages", "sex", "n_items",
                                      "seconds", "median_f0_hz"], spk_rows)
    _write_csv(out / "noises.csv", ["file", "family", "package", "version", "sources",
                                    "seconds"], noise_rows)
    used = {("speech", r[1]) for r in spk_rows} | {("noise", r[2]) for r in noise_rows}
    pkg_rows = []
    for pkg, rs in roles.items():
        lic = "; ".join(licences(root / pkg, pkg))
        for role in rs:
            if (role, pkg) in used:  # a package whose voices were all dropped is not listed
                pkg_rows.append([pkg, versions[pkg], lic, role])
    _write_csv(out / "packages.csv", ["package", "version", "licences", "role"], pkg_rows)
    rej = {k: len(v) for k, v in sorted(stats["rejected"].items())}
    _write_csv(out / "rejected.csv", ["reason", "clip"],
               [[k, c] for k, v in sorted(stats["rejected"].items()) for c in v])
    stats.update(speakers=len(spk_rows), languages=len({r[2] for r in spk_rows}),
                 noises=len(noise_rows), rejected=rej)
    return stats


def _part_label(p: Part) -> str:
    if p.whole:
        return p.clip.label()
    return f"{p.clip.label()}@{p.start / RATE:.2f}-{p.stop / RATE:.2f}"


def _noise_row(noise_dir: Path, family: str, name: str, pkg: str, versions: Dict[str, str],
               used: Sequence[Clip], y: np.ndarray) -> list:
    rel = f"{family}/{name}.wav"
    write_audio(str(noise_dir / rel), y.astype(np.float32), RATE)
    return [rel, family, pkg, versions[pkg], ";".join(c.label() for c in used),
            f"{len(y) / RATE:.2f}"]


def list_plan(out: Path, voices: Sequence[Voice] = VOICES, noises: Sequence[Noise] = NOISES,
              babbles: Sequence[Babble] = BABBLES, log=print) -> None:
    """Print packages, voices (clips, header seconds) and noises; no audio is written."""
    root = out / "x"
    roles = packages_of(voices, noises, babbles)
    versions = fetch(roles, out / "debs", root, log)
    for pkg, rs in roles.items():
        log(f"package {pkg} {versions[pkg]} ({', '.join(rs)}): "
            f"{'; '.join(licences(root / pkg, pkg))}")
    clips_of = collect(root, voices, log)
    total = 0
    for v in voices:
        cs = clips_of[v.speaker]
        secs = sum(sf.info(io.BytesIO(read_bytes(root, c))).duration for c in cs)
        total += len(cs)
        log(f"voice {v.speaker} ({v.package}, {v.language}{', ' + v.sex if v.sex else ''}): "
            f"{len(cs)} clips, {secs / 60:.1f} min")
    log(f"{len(voices)} voices, {total} clips")
    for b in babbles:
        log(f"noise {b.family}/{b.name} ({b.package}): {b.n_talkers} of "
            f"{len(b.talkers)} talkers")
    for nz in noises:
        log(f"noise {nz.family}/{nz.name} ({nz.package}): "
            f"{len(list_clips(root, nz.package, nz.patterns))} source files")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder (debs/ and x/ are kept there)")
    p.add_argument("--seed", type=int, default=0, help="item joining/choice and babble seed")
    p.add_argument("--max-per-speaker", type=int, default=DEFAULT_MAX_PER_SPEAKER,
                   help=f"cap on the items of one voice (default {DEFAULT_MAX_PER_SPEAKER})")
    p.add_argument("--workers", type=int, default=2, help="decoding processes (default 2)")
    p.add_argument("--list", action="store_true", help="print what would be used; write no audio")
    a = p.parse_args(argv)
    try:
        if a.max_per_speaker < 1:
            raise CorpusError(f"--max-per-speaker must be >= 1, got {a.max_per_speaker}")
        if a.workers < 1:
            raise CorpusError(f"--workers must be >= 1, got {a.workers}")
        out = Path(a.out).resolve()
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CorpusError(f"cannot create --out {out}: {exc.strerror}") from exc
        if a.list:
            list_plan(out, VOICES, NOISES, BABBLES)
            return 0
        s = build(out, VOICES, NOISES, BABBLES, seed=a.seed, max_per_speaker=a.max_per_speaker, workers=a.workers)
    except CorpusError as exc:
        print(f"quality_corpus: error: {exc}", file=sys.stderr)
        return 2
    rej = ", ".join(f"{k} {v}" for k, v in s["rejected"].items()) or "none"
    print(f"{s['items']} clean items ({s['seconds'] / 3600:.2f} h) from {s['speakers']} "
          f"speakers in {s['languages']} languages; {s['noises']} noise files; "
          f"rejected clips: {rej} (listed in {out / 'rejected.csv'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
