"""Sharded TFRecords: deterministic assignment, resume after a kill, manifest of what
was written and skipped, read back with interleave."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf

from tfaudio.data import shards
from tfaudio.errors import DatasetError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "audio"
    rng = np.random.default_rng(0)
    for i in range(24):
        sub = root / f"dir{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        sr = (16000, 22050, 8000)[i % 3]
        x = 0.3 * rng.standard_normal(int(sr * (0.2 + 0.05 * i)))
        ext = "flac" if i % 4 == 0 else "wav"
        sf.write(sub / f"clip{i:02d}.{ext}", x if i % 5 else np.stack([x, x], 1), sr)
    (root / "dir0" / "broken.wav").write_bytes(b"RIFF not really audio")
    (root / "dir1" / "empty.wav").write_bytes(b"")
    sf.write(root / "dir2" / "silent-empty.wav", np.zeros(0), 16000)
    (root / "notes.txt").write_text("not audio, not listed")
    return root


def _paths(root):
    from tfaudio.datasets.audio_folder import list_audio

    return list_audio(root)


def test_writes_manifest_and_reads_back(corpus, tmp_path):
    paths, root = _paths(corpus)
    assert len(paths) == 27 and not any(p.endswith(".txt") for p in paths)
    m = shards.write_shards(paths, tmp_path / "out", num_shards=4, root=str(root), workers=2, progress=False,
                            say=lambda *_: None)
    assert m["examples"] == 24 and len(m["shards"]) == 4 and m["sample_rate"] == 16000
    assert sorted(s["key"] for s in m["skipped"]) == ["dir0/broken.wav", "dir1/empty.wav", "dir2/silent-empty.wav"]
    assert all(s["reason"] for s in m["skipped"])
    on_disk = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert on_disk["examples"] == 24
    got = {}
    for e in shards.read_shards(tmp_path / "out", sample_rate=16000):
        got[e["key"].numpy().decode()] = e["waveform"].numpy()
    assert len(got) == 24
    from tfaudio.audio import load_audio

    want = load_audio(corpus / "dir1" / "clip07.wav", sample_rate=16000)
    np.testing.assert_allclose(got["dir1/clip07.wav"], want, atol=1.5 / 32767)  # 16-bit PCM
    with pytest.raises(DatasetError, match="22050"):
        shards.read_shards(tmp_path / "out", sample_rate=22050)


def test_assignment_is_deterministic_and_independent_of_order_and_workers(corpus, tmp_path):
    paths, root = _paths(corpus)
    a = shards.write_shards(paths, tmp_path / "a", num_shards=3, root=str(root), workers=1, progress=False)
    b = shards.write_shards(list(reversed(paths)), tmp_path / "b", num_shards=3, root=str(root), workers=3,
                            progress=False)
    for i in range(3):
        ra = json.loads((tmp_path / "a" / shards.record_name(i)).read_text())
        rb = json.loads((tmp_path / "b" / shards.record_name(i)).read_text())
        assert ra["files"] == rb["files"] and all(shards.shard_of(k, 3) == i for k in ra["files"])
        assert (tmp_path / "a" / ra["shard"]).read_bytes() == (tmp_path / "b" / rb["shard"]).read_bytes()
    assert a["shards"] == b["shards"]


SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    from tfaudio.data import shards
    from tfaudio.datasets.audio_folder import list_audio
    import tfaudio.data.shards as S
    load = S.load_audio
    def slow(*a, **k):
        time.sleep(0.15)
        return load(*a, **k)
    S.load_audio = slow
    paths, root = list_audio(sys.argv[1])
    shards.write_shards(paths, sys.argv[2], num_shards=6, root=str(root), workers=1, progress=False)
    """
)


def test_resume_after_kill_keeps_finished_shards_and_equals_an_uninterrupted_run(corpus, tmp_path):
    paths, root = _paths(corpus)
    full = shards.write_shards(paths, tmp_path / "full", num_shards=6, root=str(root), workers=1, progress=False)
    out = tmp_path / "killed"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    p = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(corpus), str(out)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("shard-?????.json"))) < 2 and p.poll() is None:
        time.sleep(0.05)
    assert p.poll() is None, p.stderr.read()[-2000:]
    p.send_signal(signal.SIGKILL)
    p.wait()
    done_before = sorted(x.name for x in out.glob("shard-?????.json"))
    assert 2 <= len(done_before) < 6 and not (out / "manifest.json").exists()
    mtimes = {n: (out / n).stat().st_mtime_ns for n in done_before}
    said = []
    resumed = shards.write_shards(paths, out, num_shards=6, root=str(root), workers=2, progress=False,
                                  say=said.append)
    assert said and f"{len(done_before)} of 6" in said[0]
    assert all((out / n).stat().st_mtime_ns == t for n, t in mtimes.items())  # finished shards kept
    assert resumed["shards"] == full["shards"] and resumed["skipped"] == full["skipped"]
    for s in full["shards"]:
        assert (out / s["file"]).read_bytes() == (tmp_path / "full" / s["file"]).read_bytes()
    assert not list(out.glob(".*.tmp"))
    with pytest.raises(DatasetError, match="other settings"):
        shards.write_shards(paths, out, num_shards=5, root=str(root), progress=False)


def test_prepare_command_and_its_errors(corpus, tmp_path):
    from tests import harness

    res = harness.run_cli("tfaudio.cli.prepare", ["--input", corpus, "--out", tmp_path / "s", "--shards", "2",
                                                 "--no-progress"])
    assert res.returncode == 0, res.stderr[-3000:]
    assert "24 clip(s)" in res.stdout and "3 file(s) skipped" in res.stdout
    harness.assert_user_error(harness.run_cli("tfaudio.cli.prepare", ["--input", tmp_path / "nope", "--out",
                                                                      tmp_path / "x"]), "no such folder")
    bad = tmp_path / "list.csv"
    bad.write_text("file\nx.wav\n")
    harness.assert_user_error(harness.run_cli("tfaudio.cli.prepare", ["--input", bad, "--out", tmp_path / "y"]),
                              "missing column 'path'")
    with pytest.raises(DatasetError, match="tfaudio-prepare"):
        shards.read_manifest(tmp_path)
