"""tools/quality_corpus.py on tiny fake unpacked package trees (no network, no apt)."""
from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("quality_corpus", ROOT / "tools/quality_corpus.py")
qc = importlib.util.module_from_spec(_spec)
sys.modules["quality_corpus"] = qc
_spec.loader.exec_module(qc)

SR = 22050


def vowel(seconds: float, f0: float = 140.0, sr: int = SR, amp: float = 0.3,
          lead: float = 0.2, tail: float = 0.3, seed: int = 0) -> np.ndarray:
    """A voiced, speech-like tone (harmonics of f0, slow amplitude change) with digital
    silence before and after."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6)) / k for k in range(1, 8))
    x = x * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) * amp / np.max(np.abs(x))
    return np.concatenate([np.zeros(int(lead * sr)), x, np.zeros(int(tail * sr))])


def speech_with_pauses(n_words: int, word_s: float, gap_s: float, seed: int = 0) -> np.ndarray:
    parts = []
    for k in range(n_words):
        parts += [vowel(word_s, 120 + 10 * k, lead=0, tail=0, seed=seed + k),
                  np.zeros(int(gap_s * SR))]
    return np.concatenate(parts)


def put(tree: Path, rel: str, x: np.ndarray, sr: int = SR, fmt: str = "WAV") -> Path:
    p = tree / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(p), x, sr, format=fmt)
    return p


def copyright_file(tree: Path, pkg: str, licences) -> None:
    d = tree / "usr/share/doc" / pkg
    d.mkdir(parents=True, exist_ok=True)
    body = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
    for lic in licences:
        body += f"Files: *\nCopyright: someone\nLicense: {lic}\n\n"
    (d / "copyright").write_text(body)


@pytest.fixture
def fake(tmp_path):
    """Three fake packages: one with letter clips (short), one with long and medium
    clips plus a zip archive member, one with noises and babble talkers."""
    out = tmp_path / "out"
    x = out / "x"
    a = x / "pkg-letters"
    for k in range(40):  # 0.5-0.9 s clips -> joined items
        put(a, f"usr/share/letters/aa/{k:02d}.wav", vowel(0.5 + 0.01 * k, 150 + k, seed=k))
    put(a, "usr/share/letters/aa/silent.wav", np.zeros(SR))
    flat = np.clip(10 * vowel(1.0, 130), -0.999, 0.999)  # flat-topped
    put(a, "usr/share/letters/aa/clipped.wav", flat)
    rng = np.random.default_rng(5)
    put(a, "usr/share/letters/aa/hiss.wav", 0.3 * rng.standard_normal(SR))
    # an identical copy of a clip under another voice: kept once only
    put(a, "usr/share/letters/bb/dup.wav", vowel(0.5, 150, seed=0))
    for k in range(30):
        put(a, f"usr/share/letters/bb/{k:02d}.wav", vowel(0.6 + 0.01 * k, 210 + k, seed=90 + k))
    copyright_file(a, "pkg-letters", ["GPL-2+", "CC0-1.0", "GPL-2+"])

    b = x / "pkg-story"
    put(b, "usr/share/story/long.wav", speech_with_pauses(7, 1.6, 0.4), sr=16000)
    for k in range(5):
        put(b, f"usr/share/story/mid{k}.ogg", vowel(2.0 + 0.5 * k, 110, seed=50 + k),
            fmt="OGG")
    buf = io.BytesIO()
    sf.write(buf, vowel(3.0, 115, seed=60), SR, format="WAV")
    arc = b / "usr/share/story/pack.zip"
    with zipfile.ZipFile(arc, "w") as z:
        z.writestr("voice/line1.wav", buf.getvalue())
    copyright_file(b, "pkg-story", ["CC-BY-SA-3.0"])

    c = x / "pkg-noise"
    rng = np.random.default_rng(9)
    put(c, "usr/share/noise/rain.wav", 0.2 * rng.standard_normal(5 * SR))
    for t in ("t1", "t2", "t3"):
        for k in range(4):
            put(c, f"usr/share/talk/{t}/{k}.wav", vowel(0.6, 100 + 40 * k, seed=70 + k))
    copyright_file(c, "pkg-noise", ["public-domain"])

    voices = [
        qc.Voice("letters-aa", "pkg-letters", "aa", ("usr/share/letters/aa/*.wav",)),
        qc.Voice("letters-bb", "pkg-letters", "bb", ("usr/share/letters/bb/*.wav",),
                 sex="female"),
        qc.Voice("story-one", "pkg-story", "en",
                 ("usr/share/story/*.wav", "usr/share/story/*.ogg",
                  "usr/share/story/pack.zip::voice/*.wav")),
    ]
    noises = [qc.Noise("nature", "rain", "pkg-noise", ("usr/share/noise/rain.wav",))]
    babbles = [qc.Babble("babble", "talk2", "pkg-noise",
                         tuple((t, f"usr/share/talk/{t}/*") for t in ("t1", "t2", "t3")), 2)]
    versions = {"pkg-letters": "1.0-1", "pkg-story": "2:3.4-5", "pkg-noise": "0.1"}
    return out, voices, noises, babbles, versions


def run_build(fake, **kw):
    out, voices, noises, babbles, versions = fake
    return qc.build(out, voices, noises, babbles, versions=versions, workers=1,
                    log=lambda *_: None, **kw)


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def tree_digest(out: Path) -> dict:
    files = sorted(p for d in ("clean", "noise") for p in (out / d).rglob("*") if p.is_file())
    files += [out / f for f in ("sources.csv", "speakers.csv", "noises.csv", "packages.csv")]
    return {p.relative_to(out).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in files}


# ------------------------------------------------------------------------------ guard
@pytest.mark.parametrize("name", ["asterisk-core-sounds-en-wav", "asterisk-moh-opsound-wav",
                                  "fillets-ng-data", "fillets-ng-data-cs"])
def test_reserved_packages_are_refused(name):
    with pytest.raises(qc.CorpusError, match="reserved"):
        qc.check_allowed(name)


def test_reserved_guard_runs_before_any_download(tmp_path):
    calls = []
    qc_run = qc._run
    qc._run = lambda cmd, cwd=None: calls.append(cmd) or ""
    try:
        with pytest.raises(qc.CorpusError, match="reserved"):
            qc.fetch(["asterisk-core-sounds-fr-wav"], tmp_path / "debs", tmp_path / "x")
        v = [qc.Voice("x", "fillets-ng-data", "cs", ("*.ogg",))]
        with pytest.raises(qc.CorpusError, match="reserved"):
            qc.packages_of(v, [], [])
    finally:
        qc._run = qc_run
    assert calls == []


def test_shipped_tables_use_no_reserved_package():
    roles = qc.packages_of(qc.VOICES, qc.NOISES, qc.BABBLES)
    assert roles and not any(p.startswith(qc.RESERVED_PREFIXES) for p in roles)
    speakers = [v.speaker for v in qc.VOICES]
    assert len(speakers) == len(set(speakers))
    assert all(qc.safe_name(s, 80) == s for s in speakers)


def test_cli_reserved_and_bad_arguments_are_one_line_exit_2(tmp_path, capsys, monkeypatch):
    assert qc.main(["--out", str(tmp_path / "o"), "--max-per-speaker", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "max-per-speaker" in err and "Traceback" not in err
    monkeypatch.setattr(qc, "VOICES", [qc.Voice("x", "asterisk-core-sounds-en-wav", "en",
                                                ("*.wav",))])
    monkeypatch.setattr(qc, "NOISES", [])
    monkeypatch.setattr(qc, "BABBLES", [])
    assert qc.main(["--out", str(tmp_path / "o"), "--list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "reserved" in err


# ------------------------------------------------------------------- signal pieces
def test_trim_silence_cuts_digital_silence_only():
    x = qc.resample(vowel(1.0, lead=0.5, tail=0.7).astype(np.float32), SR, qc.RATE)
    y = qc.trim_silence(x.astype(np.float64))
    assert 1.0 <= len(y) / qc.RATE <= 1.05
    assert len(qc.trim_silence(np.zeros(qc.RATE))) == 0


def test_clipping_and_voicing_checks():
    assert qc.is_clipped(np.clip(10 * vowel(1.0), -0.999, 0.999))
    assert not qc.is_clipped(vowel(1.0, amp=0.95))
    y = qc.resample(vowel(1.0, 130, lead=0, tail=0).astype(np.float32), SR, qc.RATE)
    share, nv, f0 = qc.voicing(y.astype(np.float64))
    assert share > 0.8 and nv > 10 and abs(f0 - 130) < 10
    noise = np.random.default_rng(0).standard_normal(qc.RATE) * 0.3
    assert qc.voicing(noise)[0] < 0.15


def test_split_long_cuts_at_pauses_into_allowed_lengths():
    y = qc.resample(speech_with_pauses(7, 1.6, 0.4).astype(np.float32), SR, qc.RATE)
    parts = qc.split_long(y.astype(np.float64))
    assert len(parts) >= 2
    for a, b in parts:
        assert qc.MIN_S <= (b - a) / qc.RATE <= qc.MAX_S
        # a cut falls in a pause: the samples around it are silent
        assert np.max(np.abs(y[max(0, b - 40):b])) < 1e-3 or b == len(y)


def _prep(seconds, k):
    x = qc.resample(vowel(seconds, 150 + k, lead=0, tail=0, seed=k).astype(np.float32),
                    SR, qc.RATE)
    return qc.Prepared(qc.Clip("p", f"c{k}.wav"), "", (0.5 * x / np.max(np.abs(x))), SR, 150)


def test_make_items_alone_and_joined():
    clips = [_prep(0.6, k) for k in range(20)] + [_prep(3.0, 100), _prep(1.5, 101)]
    items = qc.make_items("s", clips, np.random.default_rng(0), 1000)
    alone = [it for it in items if len(it.parts) == 1]
    joined = [it for it in items if len(it.parts) > 1]
    assert len(alone) == 2 and joined
    for it in joined:
        d = len(it.audio) / qc.RATE
        assert qc.JOIN_MIN_S <= d <= qc.JOIN_MAX_S
        n = len(it.parts)
        assert abs(d - (sum(p.stop - p.start for p in it.parts) / qc.RATE
                        + (n - 1) * qc.PAUSE_S)) < 1e-3
    for it in items:
        assert abs(float(np.max(np.abs(it.audio))) - qc.PEAK) < 1e-6
    used = [p.clip for it in items for p in it.parts]
    assert len(used) == len(set(used))  # no clip is used twice
    capped = qc.make_items("s", clips, np.random.default_rng(0), 3)
    assert len(capped) == 3


# ------------------------------------------------------------------------ whole build
def test_build_layout_and_csv(fake):
    out = fake[0]
    stats = run_build(fake)
    spk = {r["speaker"]: r for r in read_csv(out / "speakers.csv")}
    assert set(spk) == {"letters-aa", "letters-bb", "story-one"}
    assert spk["letters-bb"]["sex"] == "female" and spk["letters-aa"]["sex"] == ""
    rows = read_csv(out / "sources.csv")
    assert len(rows) == stats["items"] == sum(int(r["n_items"]) for r in spk.values())
    for r in rows:
        wav = out / "clean" / r["item"]
        info = sf.info(str(wav))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert abs(info.duration - float(r["seconds"])) < 0.01
        assert r["item"].split("/")[0] == r["speaker"]
        assert len(r["sources"].split(";")) == int(r["n_clips"])
        assert qc.MIN_S <= info.duration <= qc.MAX_S
    # every clean folder is one speaker and matches speakers.csv
    assert sorted(p.name for p in (out / "clean").iterdir()) == sorted(spk)
    story = [r for r in rows if r["speaker"] == "story-one"]
    srcs = " ".join(r["sources"] for r in story)
    assert "/usr/share/story/pack.zip:voice/line1.wav" in srcs
    assert "/usr/share/story/long.wav@" in srcs            # split into parts
    assert {r["version"] for r in story} == {"2:3.4-5"}
    # rejected clips are listed with their reason; none of them is in an item
    rej = read_csv(out / "rejected.csv")
    reasons = {Path(r["clip"]).name: r["reason"] for r in rej}
    assert reasons.get("silent.wav") == "silent"
    assert reasons.get("clipped.wav") == "clipped"
    assert reasons.get("hiss.wav") == "not speech"
    all_src = " ".join(r["sources"] for r in rows)
    assert "silent.wav" not in all_src and "clipped.wav" not in all_src
    # the duplicated file is used once only (in the first voice)
    assert "letters/bb/dup.wav" not in all_src
    # noise and CSVs
    nz = read_csv(out / "noises.csv")
    assert {r["file"] for r in nz} == {"babble/talk2.wav", "nature/rain.wav"}
    for r in nz:
        info = sf.info(str(out / "noise" / r["file"]))
        assert (info.samplerate, info.channels) == (16000, 1)
        assert abs(info.duration - 60.0) < 1e-3 and r["seconds"] == "60.00"
    babble_src = next(r for r in nz if r["family"] == "babble")["sources"]
    assert len({s.split("/")[4] for s in babble_src.split(";")}) == 2   # 2 talkers
    pk = read_csv(out / "packages.csv")
    lic = {(r["package"], r["role"]): r["licences"] for r in pk}
    assert lic[("pkg-letters", "speech")] == "GPL-2+; CC0-1.0"
    assert lic[("pkg-noise", "noise")] == "public-domain"
    assert {r["version"] for r in pk if r["package"] == "pkg-story"} == {"2:3.4-5"}


def test_build_is_deterministic_and_seed_matters(fake):
    out = fake[0]
    run_build(fake)
    first = tree_digest(out)
    run_build(fake)
    assert tree_digest(out) == first
    run_build(fake, seed=1)
    assert tree_digest(out) != first


def test_rebuild_leaves_no_stale_items(fake):
    out = fake[0]
    run_build(fake)
    stale = out / "clean" / "letters-aa" / "9999-old.wav"
    stale.write_bytes(b"x")
    run_build(fake, max_per_speaker=5)
    assert not stale.exists()
    spk = {r["speaker"]: int(r["n_items"]) for r in read_csv(out / "speakers.csv")}
    assert max(spk.values()) <= 5
    for s, n in spk.items():
        assert len(list((out / "clean" / s).glob("*.wav"))) == n


def test_small_voice_is_dropped(fake):
    out, voices, noises, babbles, versions = fake
    tiny = qc.Voice("story-tiny", "pkg-story", "en", ("usr/share/story/mid0.ogg",))
    qc.build(out, voices + [tiny], noises, babbles, versions=versions, workers=1,
             log=lambda *_: None)
    assert "story-tiny" not in {r["speaker"] for r in read_csv(out / "speakers.csv")}
    assert not (out / "clean" / "story-tiny").exists()


def test_licences_of_free_form_copyright(tmp_path):
    d = tmp_path / "usr/share/doc/p"
    d.mkdir(parents=True)
    (d / "copyright").write_text("This program is free software; under the terms of the "
                                 "GNU General Public License as published by the FSF; "
                                 "either version 2\nof the License, or (at your option) any "
                                 "later version.\n")
    assert qc.licences(tmp_path, "p") == ["GPL-2+ (free-form copyright file)"]
