"""The TIMIT reader: phone maps, SPHERE + side files, standard sets, clear errors."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from tfaudio.audio.io import load_audio
from tfaudio.datasets import timit
from tfaudio.datasets import timit_embedded as te
from tfaudio.errors import DatasetError


def test_phone_sets_have_61_48_39_members_and_q_is_dropped():
    assert len(timit.PHONES_61) == 61 and len(timit.PHONES_48) == 48 and len(timit.PHONES_39) == 39
    assert timit.map_phone("q") is None and timit.map_phone("q", 39) is None
    # hand-checked entries of the standard map
    cases = {"ao": ("ao", "aa"), "ax-h": ("ax", "ah"), "axr": ("er", "er"), "bcl": ("vcl", "sil"),
             "kcl": ("cl", "sil"), "h#": ("sil", "sil"), "pau": ("sil", "sil"), "epi": ("epi", "sil"),
             "el": ("el", "l"), "em": ("m", "m"), "en": ("en", "n"), "nx": ("n", "n"), "eng": ("ng", "ng"),
             "hv": ("hh", "hh"), "ix": ("ix", "ih"), "ux": ("uw", "uw"), "zh": ("zh", "sh"), "dx": ("dx", "dx")}
    for p, (p48, p39) in cases.items():
        assert timit.map_phone(p, 48) == p48 and timit.map_phone(p, 39) == p39
    assert set(timit.MAP_48_TO_39) == set(timit.PHONES_48)
    assert set(timit.MAP_48_TO_39.values()) == set(timit.PHONES_39)
    assert "sil" in timit.PHONES_39  # silence is scored
    with pytest.raises(DatasetError, match="unknown phone 'xx'"):
        timit.map_phone("xx", 48, "somewhere")


def test_speaker_lists():
    assert len(timit.DEV_SPEAKERS) == 50 == len(set(timit.DEV_SPEAKERS))
    assert len(timit.CORE_TEST_SPEAKERS) == 24 == len(set(timit.CORE_TEST_SPEAKERS))
    assert not set(timit.DEV_SPEAKERS) & set(timit.CORE_TEST_SPEAKERS)
    # two men and one woman per dialect region in the core test set
    assert sum(s.startswith("F") for s in timit.CORE_TEST_SPEAKERS) == 8


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("timit")
    te.write_timit_release(root, train_speakers=3, dev_speakers=1, test_speakers=1, utterances_per_speaker=2,
                           speaker_names={"dev": timit.DEV_SPEAKERS, "test": timit.CORE_TEST_SPEAKERS},
                           max_seconds=1.5)
    return root


def test_embedded_release_reads_as_timit(tree):
    train, dev, test = (timit.timit_set(tree, s) for s in timit.SETS)
    assert len(train) == 3 * 2 and len(dev) == 2 and len(test) == 2  # SA sentences left out
    assert len(timit.timit_set(tree, "train", include_sa=True)) == 3 * 4
    assert {u.speaker for u in dev} == {timit.DEV_SPEAKERS[0]}
    assert {u.speaker for u in test} == {timit.CORE_TEST_SPEAKERS[0]}
    u = train[0]
    audio = load_audio(u.wav, sample_rate=None)
    assert sf.info(str(u.wav)).format == "NIST"
    assert u.phones[0].start == 0 and u.phones[-1].end == len(audio)
    assert all(a.end == b.start for a, b in zip(u.phones[:-1], u.phones[1:]))
    assert all(p.label in timit.PHONE_MAP for p in u.phones)
    assert u.words and u.words[0].start >= u.phones[0].end and u.text


def test_sphere_and_phn_parsing_by_hand(tmp_path):
    spk = tmp_path / "train" / "dr3" / "mabc0"
    spk.mkdir(parents=True)
    x = (0.1 * np.sin(np.arange(4000) / 7.0)).astype(np.float32)
    sf.write(str(spk / "si1.wav"), x, 16000, subtype="PCM_16", format="NIST")
    (spk / "si1.phn").write_text("0 1000 h#\n1000 1500 q\n1500 3000 ix\n3000 4000 h#\n")
    (spk / "si1.wrd").write_text("1000 3000 it\n")
    (spk / "si1.txt").write_text("0 4000 It.\n")
    [u] = timit.timit_set(tmp_path, "train")  # lower-case names throughout
    assert (u.speaker, u.name, u.dialect) == ("MABC0", "SI1", "DR3")
    assert [(s.start, s.end, s.label) for s in u.phones] == [(0, 1000, "h#"), (1000, 1500, "q"), (1500, 3000, "ix"),
                                                            (3000, 4000, "h#")]
    assert [(s.start, s.end, s.label) for s in u.words] == [(1000, 3000, "it")] and u.text == "It."
    np.testing.assert_allclose(load_audio(u.wav, sample_rate=None), x, atol=1 / 32768)


@pytest.mark.parametrize("text, message", [("0 10 zz\n", "unknown phone 'zz'"), ("0 x h#\n", "sample numbers"),
                                           ("10 5 h#\n", "not after its start"), ("0 10\n", "start end label"),
                                           ("", "holds no segments")])
def test_bad_phn_names_file_and_line(tmp_path, text, message):
    p = tmp_path / "X.PHN"
    p.write_text(text)
    with pytest.raises(DatasetError, match=message) as exc:
        timit.read_phn(p)
    assert str(p) in str(exc.value)


def test_missing_layout_and_missing_phn_are_errors(tree, tmp_path):
    with pytest.raises(DatasetError, match="no TRAIN/ folder"):
        timit.timit_set(tmp_path, "train")
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    phn = sorted(copy.glob("TRAIN/*/*/SX*.PHN"))[0]
    phn.unlink()
    with pytest.raises(DatasetError, match=r"no \.PHN file"):
        timit.timit_set(copy, "train")


def _one_utterance(root, phn, wrd=None, n=4000):
    spk = root / "train" / "dr3" / "mabc0"
    spk.mkdir(parents=True)
    sf.write(str(spk / "si1.wav"), np.zeros(n, np.float32), 16000, format="NIST", subtype="PCM_16")
    (spk / "si1.phn").write_text(phn)
    if wrd is not None:
        (spk / "si1.wrd").write_text(wrd)
    return spk


@pytest.mark.parametrize("phn, wrd, line, message", [
    ("0 1000 h#\n3000 4000 h#\n1000 3000 ix\n", None, 2, "leaves a gap"),
    ("0 1000 h#\n1000 3000 ix\n3000 4000 h#\n", None, None, None),  # the good file
    ("0 1000 h#\n1000 3000 ix\n500 1000 s\n3000 4000 h#\n", None, 3, "out of order"),
    ("0 1200 h#\n1000 3000 ix\n3000 4000 h#\n", None, 2, "overlaps the previous segment"),
    ("0 1000 h#\n1500 3000 ix\n3000 4000 h#\n", None, 2, "leaves a gap"),
    ("10 1000 h#\n1000 3000 ix\n3000 4000 h#\n", None, 1, "starts at sample 10, not 0"),
    ("0 1000 h#\n1000 3000 ix\n3000 4800 h#\n", None, 3, "past the audio's 4000 samples"),
    ("0 1000 h#\n1000 2000 ix\n2000 3000 h#\n", None, 3, "1000 samples before the audio's end"),
    ("0 1000 h#\n1000 3000 ix\n3000 4000 h#\n", "1000 3000 it\n3000 4400 is\n", 2, "outside the phone"),
    ("0 1000 h#\n1000 3000 ix\n3000 4000 h#\n", "2000 3000 is\n1000 2000 it\n", 2, "out of order"),
    ("0 1000 h#\n1000 3000 ix\n3000 4000 h#\n", "1000 2000 it\n2500 3000 is\n", None, None),  # pause
])
def test_phone_and_word_segments_must_tile_the_audio(tmp_path, phn, wrd, line, message):
    spk = _one_utterance(tmp_path, phn, wrd)
    if message is None:
        [u] = timit.timit_set(tmp_path, "train")
        assert u.phones[-1].end == 4000
        return
    with pytest.raises(DatasetError, match=message) as exc:
        timit.timit_set(tmp_path, "train")
    side = "si1.wrd" if wrd is not None else "si1.phn"
    assert f"{spk / side}:{line}:" in str(exc.value), str(exc.value)
