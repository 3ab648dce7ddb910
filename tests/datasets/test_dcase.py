"""The DCASE 2019 task 4 reader and its embedded generator."""
import logging

import numpy as np
import pytest
import soundfile as sf

from tfaudio.datasets import dcase
from tfaudio.datasets.dcase_embedded import generate_dcase
from tfaudio.errors import DatasetError


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _wav(path, seconds=0.5, sr=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(seconds * sr), np.float32), sr)


@pytest.fixture
def release(tmp_path):
    """A small copy in the release layout with empty rows, blank lines and missing files."""
    root = tmp_path / "dcase"
    _write(root / "metadata/validation/validation.tsv",
           "filename\tonset\toffset\tevent_label\n"
           "a.wav\t0.5\t2.0\tDog\n"
           "a.wav\t1.0\t3.5\tSpeech\n"
           "b.wav\t\t\t\n"            # a clip without events
           "\n"                        # a blank line
           "gone.wav\t1.0\t2.0\tCat\n")
    _write(root / "metadata/train/weak.tsv", "filename\tevent_labels\nw1.wav\tDog,Speech\nw2.wav\t\nw3.wav\tCat\n")
    _write(root / "metadata/train/synthetic.tsv", "filename\tonset\toffset\tevent_label\ns1.wav\t0\t1\tBlender\n")
    _write(root / "metadata/train/unlabel_in_domain.tsv", "filename\nu1.wav\nu2.wav\n")
    for rel in ("audio/validation/a.wav", "audio/validation/b.wav", "audio/train/weak/w1.wav",
                "audio/train/weak/w2.wav", "audio/train/synthetic/s1.wav", "audio/train/unlabel_in_domain/u1.wav"):
        _wav(root / rel)
    return root


def test_strong_tsv_with_empty_rows_and_missing_files(release):
    val = dcase.read_subset(release, "validation")
    assert val.files == ["a.wav", "b.wav"]
    assert val.events["a.wav"] == [(0.5, 2.0, "Dog"), (1.0, 3.5, "Speech")]
    assert val.events["b.wav"] == []  # an event-less clip, not a parse error
    assert val.labels["b.wav"] == ()
    assert [p.endswith("gone.wav") for p, _ in val.missing] == [True]


def test_weak_and_unlabeled(release):
    weak = dcase.read_subset(release, "weak")
    assert weak.files == ["w1.wav", "w2.wav"] and weak.labels["w1.wav"] == ("Dog", "Speech")
    assert weak.labels["w2.wav"] == ()
    assert len(weak.missing) == 1 and "w3.wav" in weak.missing[0][0]
    unl = dcase.read_subset(release, "unlabeled")
    assert unl.files == ["u1.wav"] and len(unl.missing) == 1


def test_missing_files_are_listed_never_fatal(release, tmp_path):
    ds = dcase.load_dcase(release)
    assert ds.classes == list(dcase.DCASE2019_CLASSES)
    assert len(ds.missing) == 3
    out = dcase.write_missing(tmp_path / "skipped.tsv", ds.missing)
    assert len(out.read_text().splitlines()) == 4


def test_bad_row_names_file_and_line(release):
    path = release / "metadata/validation/validation.tsv"
    path.write_text(path.read_text() + "c.wav\tsoon\t2\tDog\n")
    with pytest.raises(DatasetError, match=r"validation.tsv: line 7 \(c.wav\)"):
        dcase.read_subset(release, "validation")


def test_missing_metadata_is_one_clear_error(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(DatasetError, match="weak.tsv not found"):
        dcase.read_subset(tmp_path / "x", "weak")


def test_own_classes_warn_and_are_used(release, caplog):
    path = release / "metadata/train/weak.tsv"
    path.write_text("filename\tevent_labels\nw1.wav\tDog,Doorbell\n")
    with caplog.at_level(logging.WARNING):
        ds = dcase.load_dcase(release)
    assert "Doorbell" in ds.classes and "Blender" in ds.classes
    assert any("Doorbell" in r.getMessage() and "differ" in r.getMessage() for r in caplog.records)


def test_generator_is_deterministic_and_in_the_release_layout(tmp_path):
    sizes = {"synthetic": 4, "weak": 4, "unlabeled": 3, "validation": 4}
    a = generate_dcase(tmp_path / "a", sizes, seed=3, sr=8000, seconds=4.0, missing_per_subset=1)
    b = generate_dcase(tmp_path / "b", sizes, seed=3, sr=8000, seconds=4.0, missing_per_subset=1)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    ds = dcase.load_dcase(a)
    assert {k: (len(s.files), len(s.missing)) for k, s in ds.subsets.items()} == {
        "synthetic": (3, 1), "weak": (3, 1), "unlabeled": (2, 1), "validation": (3, 1)}
    for f, evs in ds.subsets["synthetic"].events.items():
        for on, off, lab in evs:
            assert 0 <= on < off <= 4.0 and lab in dcase.DCASE2019_CLASSES


def test_real_domain_sounds_different(tmp_path):
    """The real chain (background + colouring) shifts the spectrum: the share of energy
    below 300 Hz differs clearly between synthetic and real clips."""
    root = generate_dcase(tmp_path / "d", {"synthetic": 6, "weak": 6, "unlabeled": 0, "validation": 0},
                          seed=0, sr=8000, seconds=4.0, missing_per_subset=0)

    def low_share(folder):
        shares = []
        for p in sorted(folder.glob("*.wav")):
            x, sr = sf.read(p)
            spec = np.abs(np.fft.rfft(x)) ** 2
            f = np.fft.rfftfreq(len(x), 1 / sr)
            shares.append(spec[f < 300].sum() / spec.sum())
        return np.array(shares)

    syn, real = low_share(root / "audio/train/synthetic"), low_share(root / "audio/train/weak")
    assert real.min() > syn.max() or real.mean() > 3 * syn.mean(), (syn, real)
