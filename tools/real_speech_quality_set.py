#!/usr/bin/env python3
"""Rebuild the real-speech clean folder (and noise folder) behind the README's
"Quality-Net on real speech" table from Debian packages.

Every recording comes from a Debian package fetched with ``apt-get download`` and
unpacked with ``dpkg-deb -x`` (nothing is installed):

* ``asterisk-core-sounds-{en,es,fr,it,ru}-wav`` and ``asterisk-prompt-it-menardi-wav``:
  telephone prompts read by professional voices, 8 kHz, mostly one sentence each.
  The English and the Spanish prompts are read by the same person, so they share one
  speaker folder.
* ``klettres-data``: letters and syllables read by one voice per language. Clips of
  1.5-6 s are used as they are; shorter clips of one language are joined, 0.25 s of
  silence apart, into items of at least 2 s (at most 6 s).
* ``ktuberling-data`` (word recordings in many languages) is used only for the
  noise folder: six languages' words laid over each other give a real babble noise.
* ``asterisk-moh-opsound-wav``: recorded music, used as a "music" noise.

The other noise types (white, pink, factory1, destroyerengine, street) come from
:func:`tfaudio.datasets.noise.write_noise_folder` (synthetic).

Layout written to ``--out``::

    clean/<speaker>/<item>.wav     16 kHz mono 16-bit, one folder per speaker
    noise/<type>.wav               16 kHz mono 16-bit
    sources.csv                    item -> package, version, source file(s)
    packages.csv                   package, version, licence line(s)

then, for example::

    tfaudio-make-quality-set --clean OUT/clean --noise OUT/noise --out OUT/qset \\
        --splits 0.6 0.2 0.2 --workers 2

Speaker = folder name (see ``tfaudio.systems.qualitynet.quality_set.speaker_of``), so the
set's train/dev/test splits are speaker-disjoint. Assumption, not verified: each
klettres language folder is one voice, and voices of different languages differ.

Usage: ``python tools/real_speech_quality_set.py --out /tmp/realspeech`` (needs
``apt-get``, ``dpkg-deb`` and network access to the Debian archive; run as a user
that may write to ``--out``). Same arguments, same folder.
"""
from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

RATE = 16000
SPEECH_PACKAGES = [
    "asterisk-core-sounds-en-wav", "asterisk-core-sounds-es-wav",
    "asterisk-core-sounds-fr-wav", "asterisk-core-sounds-it-wav",
    "asterisk-core-sounds-ru-wav", "asterisk-prompt-it-menardi-wav", "klettres-data",
]
NOISE_PACKAGES = ["ktuberling-data", "asterisk-moh-opsound-wav"]
# asterisk voice folder -> speaker folder (en and es are read by the same person)
ASTERISK_SPEAKERS = {
    "en_US_f_Allison": "asterisk-allison", "es_MX_f_Allison": "asterisk-allison",
    "fr_CA_f_June": "asterisk-june", "it_IT_m_Carlo": "asterisk-carlo",
    "it_IT_f_Menardi": "asterisk-menardi", "ru_RU_f_IvrvoiceRU": "asterisk-ivrvoiceru",
}
MIN_S, MAX_S, JOIN_MIN_S, PAUSE_S = 1.5, 6.0, 2.0, 0.25


def fetch(packages, debs: Path, root: Path) -> dict:
    """apt-get download + dpkg-deb -x each package; returns {name: version}."""
    debs.mkdir(parents=True, exist_ok=True)
    versions = {}
    for pkg in packages:
        have = sorted(debs.glob(f"{pkg}_*.deb"))
        if not have:
            subprocess.run(["apt-get", "download", pkg], cwd=debs, check=True)
            have = sorted(debs.glob(f"{pkg}_*.deb"))
        deb = have[-1]
        versions[pkg] = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True,
                                       capture_output=True, text=True).stdout.strip()
        dest = root / pkg
        if not dest.is_dir():
            dest.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
    return versions


def load(path: Path) -> np.ndarray:
    x, sr = sf.read(str(path), dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if sr != RATE:
        fr = Fraction(RATE, sr)
        x = resample_poly(x, fr.numerator, fr.denominator)
    return x


def norm(x: np.ndarray, peak: float = 0.5) -> np.ndarray:
    m = float(np.max(np.abs(x))) if x.size else 0.0
    return x * (peak / m) if m > 0 else x


def write(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), norm(x).astype(np.float32), RATE, subtype="PCM_16")


def asterisk_items(root: Path, per_speaker: int, rng: np.random.Generator):
    """(speaker, item name, [source files]) for asterisk prompts of MIN_S..MAX_S s."""
    by_speaker = {}
    for voice, spk in ASTERISK_SPEAKERS.items():
        files = sorted(root.glob(f"*/usr/share/asterisk/sounds/{voice}/*.wav"))
        ok = [f for f in files if MIN_S <= sf.info(str(f)).duration <= MAX_S]
        by_speaker.setdefault(spk, []).append((voice, ok))
    for spk, voices in sorted(by_speaker.items()):
        share = per_speaker // len(voices)
        for voice, ok in voices:
            pick = sorted(rng.choice(len(ok), size=min(share, len(ok)), replace=False))
            for i in pick:
                f = ok[int(i)]
                yield spk, f"{voice.split('_')[0]}-{f.stem}", [f]


def klettres_items(root: Path, per_speaker: int, rng: np.random.Generator):
    """(speaker, item name, [source files]): long clips alone, short clips joined."""
    base = root / "klettres-data/usr/share/klettres"
    for lang in sorted(p.name for p in base.iterdir() if (p / "sounds.xml").exists()):
        files = sorted((base / lang).glob("*/*.ogg"))
        if not files:
            continue
        dur = {f: sf.info(str(f)).duration for f in files}
        alone = [[f] for f in files if MIN_S <= dur[f] <= MAX_S]
        short = [files[int(i)] for i in rng.permutation(len(files)) if dur[files[int(i)]] < MIN_S]
        joined, cur, t = [], [], 0.0
        for f in short:
            if cur and t + PAUSE_S + dur[f] > MAX_S:
                cur, t = [], 0.0
            cur.append(f)
            t += dur[f] + (PAUSE_S if len(cur) > 1 else 0.0)
            if t >= JOIN_MIN_S:
                joined.append(cur)
                cur, t = [], 0.0
        groups = alone + joined
        if len(groups) < 10:
            continue
        pick = sorted(rng.choice(len(groups), size=min(per_speaker, len(groups)),
                                 replace=False))
        for k, i in enumerate(pick):
            g = groups[int(i)]
            name = (f"{g[0].parent.name}-{g[0].stem}" if len(g) == 1
                    else f"joined{k:03d}-{len(g)}clips")
            yield f"klettres-{lang}", name, g


def build_clean(root: Path, out: Path, versions: dict, per_asterisk: int,
                per_klettres: int, seed: int) -> int:
    rows = []
    rng = np.random.default_rng(seed)
    pause = np.zeros(int(PAUSE_S * RATE))
    items = list(asterisk_items(root, per_asterisk, rng)) + list(
        klettres_items(root, per_klettres, rng))
    for spk, name, srcs in items:
        parts = []
        for j, f in enumerate(srcs):
            if j:
                parts.append(pause)
            parts.append(norm(load(f)))  # equal peaks before joining
        x = np.concatenate(parts)
        write(out / "clean" / spk / f"{name}.wav", x)
        pkg = Path(srcs[0]).relative_to(root).parts[0]
        rows.append({"speaker": spk, "item": f"{spk}/{name}.wav", "package": pkg,
                     "version": versions[pkg], "seconds": f"{x.size / RATE:.2f}",
                     "n_clips": len(srcs),
                     "sources": " ".join("/" + "/".join(Path(s).relative_to(root).parts[1:])
                                         for s in srcs)})
    with open(out / "sources.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def build_noise(root: Path, out: Path, seed: int, seconds: float = 60.0) -> None:
    rng = np.random.default_rng([seed, 1])
    n = int(seconds * RATE)
    # babble: six languages' word recordings, each looped into one talker track
    base = root / "ktuberling-data/usr/share/ktuberling/sounds"
    babble = np.zeros(n)
    for lang in ("ca", "da", "fr", "lt", "nn", "uk"):
        files = sorted((base / lang).glob("*"))
        track, pos = np.zeros(n), 0
        while pos < n:
            x = norm(load(files[int(rng.integers(len(files)))]), 1.0)
            x = x / (np.sqrt(np.mean(x ** 2)) + 1e-9)
            m = min(x.size, n - pos)
            track[pos:pos + m] = x[:m]
            pos += m + int(rng.integers(0, int(0.3 * RATE)))
        babble += track
    write(out / "noise" / "babble.wav", babble)
    music = load(root / "asterisk-moh-opsound-wav/usr/share/asterisk/moh/macroform-cold_day.wav")
    write(out / "noise" / "music.wav", music[int(30 * RATE):int(30 * RATE) + n])
    from tfaudio.datasets.noise import write_noise_folder

    write_noise_folder(out / "noise", ["white", "pink", "factory1", "destroyerengine",
                                       "street"], seconds=seconds, sample_rate=RATE,
                       seed=seed)


def licences(root: Path, versions: dict, out: Path) -> None:
    with open(out / "packages.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["package", "version", "licence"])
        for pkg, ver in sorted(versions.items()):
            cp = next((root / pkg / "usr/share/doc").glob("*/copyright"))
            lic = sorted({ln.split(":", 1)[1].strip() for ln in cp.read_text(
                errors="replace").splitlines() if ln.startswith("License:")})
            w.writerow([pkg, ver, "; ".join(lic)])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder (e.g. /tmp/realspeech)")
    p.add_argument("--per-asterisk", type=int, default=30, help="items per asterisk voice")
    p.add_argument("--per-klettres", type=int, default=30,
                   help="items per klettres language")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    out = Path(a.out).resolve()
    root = out / "x"
    versions = fetch(SPEECH_PACKAGES + NOISE_PACKAGES, out / "debs", root)
    n = build_clean(root, out, versions, a.per_asterisk, a.per_klettres, a.seed)
    build_noise(root, out, a.seed)
    licences(root, versions, out)
    print(f"{n} clean items in {out / 'clean'}, noises in {out / 'noise'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
