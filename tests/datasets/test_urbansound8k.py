"""UrbanSound8K adapter on the generated set (same layout as the real one) and bad input."""
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tfaudio.audio import AudioError, load_audio, mix_at_snr, pad_or_crop
from tfaudio.data import pipeline
from tfaudio.datasets import urbansound8k as us
from tfaudio.datasets.urbansound8k_embedded import generate_noises, generate_urbansound8k


@pytest.fixture(scope="module")
def us8k(tmp_path_factory):
    root = tmp_path_factory.mktemp("us8k")
    return generate_urbansound8k(root / "UrbanSound8K", clips_per_class_per_fold=1, max_seconds=1.0)


@pytest.fixture
def copy(us8k, tmp_path):
    dst = tmp_path / "UrbanSound8K"
    shutil.copytree(us8k, dst)
    return dst


def test_generated_set_has_the_real_layout(us8k):
    df = pd.read_csv(us8k / "metadata" / "UrbanSound8K.csv")
    assert list(df.columns) == list(us.CSV_COLUMNS)
    assert sorted(df["fold"].unique()) == list(range(1, 11))
    for f in range(1, 11):
        assert (us8k / "audio" / f"fold{f}").is_dir()
    name = df["slice_file_name"].iloc[0]
    fs_id, class_id, _, _ = name[:-4].split("-")
    assert int(fs_id) == df["fsID"].iloc[0] and int(class_id) == df["classID"].iloc[0]
    infos = [sf.info(str(us8k / "audio" / f"fold{f}" / n)) for f, n in zip(df["fold"], df["slice_file_name"])]
    assert len({i.samplerate for i in infos}) > 1 and {i.channels for i in infos} == {1, 2}


def test_paper_and_cv_splits(us8k):
    parts = us.load_split(us8k, "paper")
    assert set(parts["train"]["fold"]) == set(range(1, 9))
    assert set(parts["dev"]["fold"]) == {9} and set(parts["test"]["fold"]) == {10}
    cv = us.split_folds("cv10")
    assert cv.test == (10,) and cv.dev == (1,) and len(cv.train) == 8
    with pytest.raises(us.DatasetError, match="unknown split"):
        us.split_folds("cv11")


def test_decode_resamples_and_mixes_down(us8k):
    df = us.read_metadata(us8k)
    dec = pipeline.decode_clips(df["path"].tolist()[:20], 16000, 16000, progress=False)
    assert dec.waves.shape == (20, 16000) and dec.waves.dtype == np.float32
    info = sf.info(df["path"].iloc[0])
    raw = load_audio(df["path"].iloc[0], sample_rate=None)
    assert abs(len(raw) - info.frames) <= 1


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.drop(columns=["classID"]), "missing column"),
        (lambda d: d.assign(fold=d["fold"].where(d.index != 3, 11)), "unknown fold 11"),
        (lambda d: d.assign(classID=d["classID"].where(d.index != 2, 12)),
         r"class 'children_playing' is paired with more than one classID: 12 \(row 4\), 2 \(row 14\)"),
        (lambda d: d.assign(classID=d["classID"].astype(object).where(d.index != 2, "x")), "row 4 has a non-numeric classID"),
        (lambda d: d.assign(**{"class": d["class"].where(d.index != 6, None)}), "row 8 has an empty class name"),
        (lambda d: d.assign(fold=d["fold"].astype(object).where(d.index != 1, "x")), "non-numeric fold"),
    ],
)
def test_bad_metadata_is_a_clear_error(copy, mutate, message):
    csv = copy / "metadata" / "UrbanSound8K.csv"
    mutate(pd.read_csv(csv)).to_csv(csv, index=False)
    with pytest.raises(us.DatasetError, match=message) as err:
        us.read_metadata(copy)
    assert "UrbanSound8K.csv" in str(err.value)


def test_class_name_mismatch_and_missing_csv(copy, tmp_path):
    csv = copy / "metadata" / "UrbanSound8K.csv"
    df = pd.read_csv(csv)
    df.loc[0, "class"] = "tuba"
    df.to_csv(csv, index=False)
    with pytest.raises(us.DatasetError,
                       match=r"classID 0 is paired with more than one class: 'tuba' \(row 2\), "
                             r"'air_conditioner' \(row 12\)"):
        us.read_metadata(copy)
    with pytest.raises(us.DatasetError, match="not found"):
        us.read_metadata(tmp_path / "nowhere")


@pytest.mark.parametrize("content", [b"", b"this is not audio at all" * 10, b"RIFF\x00\x00\x00\x00WAVEfmt "])
def test_bad_audio_files_name_the_file_or_are_skipped(copy, content, caplog):
    df = us.read_metadata(copy)
    bad = df["path"].iloc[5]
    open(bad, "wb").write(content)
    paths = df["path"].tolist()[:10]
    with pytest.raises(AudioError) as err:
        pipeline.decode_clips(paths, 16000, 8000, progress=False)
    assert bad in str(err.value) and "--skip-bad-files" in str(err.value)
    dec = pipeline.decode_clips(paths, 16000, 8000, skip_bad=True, progress=False)
    assert len(dec.waves) == 9 and 5 not in dec.kept
    assert dec.skipped[0][0] == bad and bad in caplog.text


def test_missing_file_and_nan_audio(tmp_path):
    with pytest.raises(AudioError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")
    p = tmp_path / "nan.wav"
    sf.write(p, np.array([0.1, np.nan, 0.2] * 100, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(p)
    p2 = tmp_path / "stereo48k.wav"
    sf.write(p2, np.zeros((4800, 2), np.float32), 48000)
    with pytest.raises(AudioError, match="expected 16000 Hz"):
        load_audio(p2, allow_resample=False)
    with pytest.raises(AudioError, match="expected 1 channel"):
        load_audio(p2, allow_downmix=False)
    assert load_audio(p2).shape == (1600,)


def test_mix_at_snr_sets_the_snr_and_loops_short_noise():
    rng = np.random.default_rng(0)
    clean = rng.standard_normal(16000).astype(np.float32)
    noise = rng.standard_normal(3000).astype(np.float32)
    for snr in (20, 5, 0, -5):
        mixed = mix_at_snr(clean, noise, snr, offset=123)
        added = mixed - clean
        measured = 10 * np.log10(np.mean(clean**2) / np.mean(added**2))
        assert abs(measured - snr) < 0.01
    assert np.all(np.isfinite(mix_at_snr(np.zeros(100, np.float32), noise, 0)))
    assert pad_or_crop(np.ones(5), 8).tolist() == [1, 1, 1, 1, 1, 0, 0, 0]


def test_noise_folder_listing(tmp_path):
    generate_noises(tmp_path / "nx", seconds=1.0)
    files = us.list_noises(tmp_path / "nx")
    assert {p.stem for p in files} >= {"babble", "pink", "f16", "factory1"}
    assert sf.info(str(files[0])).samplerate == 19980
    with pytest.raises(us.DatasetError, match="no noise named"):
        us.list_noises(tmp_path / "nx", ["jet"])
    with pytest.raises(us.DatasetError, match="does not exist"):
        us.list_noises(tmp_path / "none")


def test_own_class_vocabulary_is_read_from_the_metadata(copy, caplog):
    """Ids 5/7/9 with their own names: renumbered 0..2 by id, one warning naming the difference."""
    csv = copy / "metadata" / "UrbanSound8K.csv"
    df = pd.read_csv(csv)
    df = df[df["classID"] < 3].copy()
    df["classID"] = df["classID"].map({0: 9, 1: 5, 2: 7})
    df["class"] = df["classID"].map({9: "wind", 5: "footsteps", 7: "rain"})
    df.to_csv(csv, index=False)
    with caplog.at_level("WARNING", logger=us.__name__):
        meta = us.read_metadata(copy)
    assert us.class_vocabulary(meta) == ["footsteps", "rain", "wind"]
    assert dict(zip(meta["class"], meta["label"])) == {"footsteps": 0, "rain": 1, "wind": 2}
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "5='footsteps' (UrbanSound8K: 'engine_idling')" in text and "air_conditioner" in text


def test_canonical_vocabulary_gives_no_warning(us8k, caplog):
    with caplog.at_level("WARNING", logger=us.__name__):
        meta = us.read_metadata(us8k)
    assert us.class_vocabulary(meta) == list(us.CLASSES)
    assert (meta["label"] == meta["classID"]).all()
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_padded_event_gets_the_stated_snr_over_its_own_samples():
    rng = np.random.default_rng(1)
    sr = 16000
    event = 0.5 * rng.standard_normal(sr // 2).astype(np.float32)  # 0.5 s
    padded = pad_or_crop(event, 4 * sr)  # zero padded to 4 s
    noise = rng.standard_normal(3 * sr).astype(np.float32)  # shorter than the clip: looped
    mixed = mix_at_snr(padded, noise, 10.0, offset=777, signal_samples=len(event))
    added = mixed - padded
    own = slice(0, len(event))
    measured = 10 * np.log10(np.mean(padded[own] ** 2) / np.mean(added[own] ** 2))
    assert abs(measured - 10.0) <= 0.1
    assert np.mean(added[len(event):] ** 2) > 0  # the noise covers the padding too
    # the padded reference measures over all 4 s: the event ends up ~9 dB cleaner than stated
    old = mix_at_snr(padded, noise, 10.0, offset=777) - padded
    measured_old = 10 * np.log10(np.mean(padded[own] ** 2) / np.mean(old[own] ** 2))
    assert abs(measured_old - (10.0 + 10 * np.log10(8))) <= 0.3
    with pytest.raises(ValueError, match="silent"):
        mix_at_snr(padded, np.zeros(100, np.float32), 10.0, signal_samples=len(event))
