"""COLA's data paths: UrbanSound8K leave-one-fold-out, pretraining from a CSV list and
from tfaudio-prepare shards (unreadable files reported), segment features of whole clips."""
import numpy as np
import pytest
import soundfile as sf

from tfaudio.config import merge
from tfaudio.systems.cola import data as D
from tfaudio.systems.cola.config import ColaConfig


def test_urbansound8k_folds(tmp_path):
    from tfaudio.datasets.urbansound8k_embedded import generate_urbansound8k
    from tfaudio.errors import ConfigError, DatasetError

    root = generate_urbansound8k(tmp_path / "UrbanSound8K", clips_per_class_per_fold=1, max_seconds=1.0)
    assert D.fold_names(str(root), None) == [f"cv{k}" for k in range(1, 11)]
    assert D.fold_names(str(root), "cv3") == ["cv3"]
    with pytest.raises(DatasetError):
        D.fold_names(str(root), "cv11")
    with pytest.raises(ConfigError, match="only for UrbanSound8K"):
        D.fold_names(str(tmp_path), "cv")
    cfg = merge(ColaConfig(), {"downstream": {"task": str(root)}})
    task = D.load_labeled(cfg, "cv3")
    assert task.layout == "urbansound8k" and len(task.classes) == 10
    folds = {s: set(df["path"].str.extract(r"fold(\d+)")[0].astype(int)) for s, df in task.splits.items()}
    assert folds["test"] == {3} and folds["dev"] == {4} and 3 not in folds["train"] and 4 not in folds["train"]


def test_pretraining_from_a_csv_list_and_from_shards(tmp_path):
    from tfaudio.data.shards import write_shards

    rng = np.random.default_rng(0)
    paths = []
    for i in range(12):
        p = tmp_path / "clips" / f"c{i}.wav"
        p.parent.mkdir(exist_ok=True)
        sf.write(p, 0.1 * rng.standard_normal(16000 + 800 * i), 16000)
        paths.append(p)
    (tmp_path / "clips" / "bad.wav").write_bytes(b"nope")
    lst = tmp_path / "list.csv"
    lst.write_text("path\n" + "".join(f"clips/{p.name}\n" for p in paths) + "clips/bad.wav\n")
    cfg = merge(ColaConfig(), {"data": {"data_dir": str(lst)}})
    data = D.load_pretrain(cfg, progress=False, skip_bad=True)
    assert data.num_train == 10 and len(data.dev_anchor) == 2 and data.dev_anchor.shape[1:] == (96, 64)
    assert [p.split("/")[-1] for p, _ in data.skipped] == ["bad.wav"]
    lengths = sorted(int(e["length"]) for e in data.train)
    assert len(lengths) == 10 and lengths[0] >= 16000
    write_shards([str(p) for p in paths] + [str(tmp_path / "clips" / "bad.wav")], tmp_path / "shards",
                 num_shards=3, root=str(tmp_path / "clips"), progress=False)
    data = D.load_pretrain(merge(cfg, {"data": {"data_dir": str(tmp_path / "shards")}}), progress=False)
    assert data.num_train == 10 and [p.split("/")[-1] for p, _ in data.skipped] == ["bad.wav"]
    assert sum(1 for _ in data.train) == 10


def test_segments_of_whole_test_clips(tmp_path):
    root = tmp_path / "task"
    rng = np.random.default_rng(1)
    for label, seconds in (("a", 0.5), ("b", 2.0)):
        for i in range(6):
            p = root / label / f"{i}.wav"
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, 0.1 * rng.standard_normal(int(16000 * seconds)), 16000)
    cfg = merge(ColaConfig(), {"downstream": {"task": str(root)}})
    data = D.DownstreamData(cfg, progress=False)
    segs = data.segmented("test")
    counts = np.bincount(segs.clip_index, minlength=segs.num_clips)
    names = [p.split("/")[-2] for p in segs.paths]
    # 0.5 s: padded to one segment; 2 s = 198 frames: two whole segments
    assert [int(c) for c in counts] == [1 if n == "a" else 2 for n in names]
    assert segs.features.shape[1:] == (96, 64) and segs.stats_frames.shape == (segs.num_clips, 2, 64)
