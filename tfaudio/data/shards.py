"""Sharded TFRecords of decoded audio, for corpora too large to decode per run.

:func:`write_shards` decodes a list of audio files (any format libsndfile reads),
resamples them, mixes them to mono and writes them as 16-bit PCM into
``shard-SSSSS-of-NNNNN.tfrecord`` files, several shards at a time:

* **deterministic assignment**: a file goes to shard ``crc32(key) % num_shards``,
  where ``key`` is its path relative to the corpus root, so the same corpus gives
  the same shards whatever the listing order or the number of workers; inside a
  shard, files are in sorted key order;
* **resumable**: a shard is written to a temporary file and renamed into place, then
  its record (``shard-SSSSS.json``: files written, files skipped and why) is written;
  a rerun after a kill skips every shard that has its record and rewrites the others;
  ``plan.json`` (settings + a hash of the file list) makes sure a rerun continues the
  same preparation;
* **manifest**: ``manifest.json`` lists every shard with its example count and
  seconds of audio, and every file that was skipped (unreadable, empty, not audio)
  with the reason: nothing is dropped silently.

An example holds ``audio`` (int16 PCM bytes), ``samples`` (int64), ``key`` (the
file's relative path). :func:`read_shards` reads a prepared folder back as a
``tf.data.Dataset`` of ``{"waveform": float32 [samples], "key": string}`` through a
deterministic ``interleave`` over the shard files.

Nothing here knows about a particular system.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from tqdm.auto import tqdm

from tfaudio.atomic import write_json
from tfaudio.audio import AudioError, load_audio
from tfaudio.errors import DatasetError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
PLAN = "plan.json"
FORMAT = "tfaudio-audio-shards-1"


def shard_name(index: int, num_shards: int) -> str:
    return f"shard-{index:05d}-of-{num_shards:05d}.tfrecord"


def record_name(index: int) -> str:
    return f"shard-{index:05d}.json"


def shard_of(key: str, num_shards: int) -> int:
    """The shard of a file: a stable hash of its relative path."""
    return zlib.crc32(key.encode("utf-8")) % num_shards


def file_keys(paths: Sequence[str], root: Optional[str] = None) -> List[str]:
    """Each path relative to ``root`` (POSIX form), or as given without a root."""
    if root is None:
        return [Path(p).as_posix() for p in paths]
    root_path = Path(root).resolve()
    out = []
    for p in paths:
        try:
            out.append(Path(p).resolve().relative_to(root_path).as_posix())
        except ValueError:
            out.append(Path(p).as_posix())
    return out


def _plan(keys: Sequence[str], sample_rate: int, num_shards: int, max_seconds: Optional[float]) -> dict:
    digest = hashlib.sha256("\n".join(sorted(keys)).encode("utf-8")).hexdigest()[:20]
    return {"format": FORMAT, "sample_rate": int(sample_rate), "num_shards": int(num_shards),
            "max_seconds": max_seconds, "files": len(keys), "files_sha256": digest}


def _example(audio: np.ndarray, key: str) -> bytes:
    import tensorflow as tf

    pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")
    feat = {
        "audio": tf.train.Feature(bytes_list=tf.train.BytesList(value=[pcm.tobytes()])),
        "samples": tf.train.Feature(int64_list=tf.train.Int64List(value=[len(pcm)])),
        "key": tf.train.Feature(bytes_list=tf.train.BytesList(value=[key.encode("utf-8")])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feat)).SerializeToString(deterministic=True)


def _write_one(out_dir: Path, index: int, num_shards: int, items: Sequence[Tuple[str, str]], sample_rate: int,
               max_seconds: Optional[float], tick) -> dict:
    """Write one shard (temporary file + rename), then its record."""
    import tensorflow as tf

    final = out_dir / shard_name(index, num_shards)
    tmp = out_dir / f".{final.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    written, skipped, samples = [], [], 0
    try:
        with tf.io.TFRecordWriter(str(tmp)) as writer:
            for key, path in items:
                try:
                    audio = load_audio(path, sample_rate=sample_rate, max_seconds=max_seconds)
                    if max_seconds is not None:
                        audio = audio[: int(round(max_seconds * sample_rate))]
                    writer.write(_example(audio, key))
                    written.append(key)
                    samples += len(audio)
                except AudioError as exc:
                    skipped.append({"key": key, "path": str(path), "reason": exc.reason})
                tick()
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    record = {"shard": final.name, "examples": len(written), "seconds": samples / sample_rate,
              "files": written, "skipped": skipped}
    write_json(out_dir / record_name(index), record)
    return record


def _remove_dead_temporaries(out_dir: Path) -> None:
    """Delete the partial shards of writers that died (their pid is in the name)."""
    for tmp in out_dir.glob(".shard-*.tmp"):
        try:
            pid = int(tmp.name.split(".")[-3])
            os.kill(pid, 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
            log.info("removed %s (left by a preparation that was killed)", tmp)
        except (ValueError, IndexError, PermissionError):
            continue


def write_shards(paths: Sequence[str], out_dir, sample_rate: int = 16000, num_shards: Optional[int] = None,
                 files_per_shard: int = 1000, root: Optional[str] = None, max_seconds: Optional[float] = None,
                 workers: Optional[int] = None, progress: bool = True, say=print) -> dict:
    """Decode ``paths`` into sharded TFRecords in ``out_dir`` (see the module docstring);
    returns the manifest. ``num_shards`` defaults to ``ceil(files / files_per_shard)``."""
    if not paths:
        raise DatasetError("no audio files to prepare")
    out_dir = Path(out_dir)
    keys = file_keys(paths, root)
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})[0]
        raise DatasetError(f"two input files share the relative path {dup!r}")
    num_shards = int(num_shards or max(1, -(-len(keys) // max(1, files_per_shard))))
    if num_shards < 1:
        raise DatasetError(f"--shards must be >= 1, got {num_shards}")
    plan = _plan(keys, sample_rate, num_shards, max_seconds)
    out_dir.mkdir(parents=True, exist_ok=True)
    plan_path = out_dir / PLAN
    if plan_path.exists():
        old = json.loads(plan_path.read_text())
        if old != plan:
            diff = sorted(k for k in plan if old.get(k) != plan[k])
            raise DatasetError(f"{out_dir} holds a preparation with other settings ({', '.join(diff)} differ); "
                               f"use another --out folder")
    else:
        write_json(plan_path, plan)
    _remove_dead_temporaries(out_dir)
    groups: Dict[int, List[Tuple[str, str]]] = {i: [] for i in range(num_shards)}
    for key, path in sorted(zip(keys, map(str, paths))):
        groups[shard_of(key, num_shards)].append((key, path))
    done = {i for i in groups if (out_dir / record_name(i)).exists() and (out_dir / shard_name(i, num_shards)).exists()}
    todo = [i for i in sorted(groups) if i not in done]
    if done:
        say(f"{out_dir}: {len(done)} of {num_shards} shard(s) already written; writing the other {len(todo)}")
    bar = tqdm(total=sum(len(groups[i]) for i in todo), desc="prepare", unit="file", disable=not progress)
    lock = threading.Lock()

    def tick():
        with lock:
            bar.update(1)

    workers = workers or min(8, (os.cpu_count() or 1) * 2)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(lambda i: _write_one(out_dir, i, num_shards, groups[i], sample_rate, max_seconds, tick), todo))
    bar.close()
    return write_manifest(out_dir, plan)


def write_manifest(out_dir: Path, plan: dict) -> dict:
    shards, skipped = [], []
    for i in range(plan["num_shards"]):
        rec = json.loads((out_dir / record_name(i)).read_text())
        shards.append({"file": rec["shard"], "examples": rec["examples"], "seconds": round(rec["seconds"], 3)})
        skipped += rec["skipped"]
    manifest = {**plan, "shards": shards, "examples": sum(s["examples"] for s in shards),
                "seconds": round(sum(s["seconds"] for s in shards), 3), "skipped": skipped}
    write_json(out_dir / MANIFEST, manifest)
    if skipped:
        listing = "\n".join(f"  {s['path']}: {s['reason']}" for s in skipped)
        log.warning("skipped %d unreadable file(s) (listed in %s):\n%s", len(skipped), out_dir / MANIFEST, listing)
    return manifest


def read_manifest(shard_dir) -> dict:
    """The manifest of a prepared folder; a folder without one is a :class:`DatasetError`."""
    path = Path(shard_dir) / MANIFEST
    if not path.is_file():
        raise DatasetError(f"{shard_dir}: no {MANIFEST} (prepare it with tfaudio-prepare, or the preparation "
                           f"did not finish: rerun it to resume)")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise DatasetError(f"{path}: not a tfaudio shard manifest")
    return manifest


def is_shard_dir(path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def read_shards(shard_dir, sample_rate: Optional[int] = None, cycle_length: int = 4):
    """``tf.data.Dataset`` of ``{"waveform": float32 [samples], "key": string}`` over
    every example of a prepared folder, in a fixed order (deterministic interleave)."""
    import tensorflow as tf

    manifest = read_manifest(shard_dir)
    if sample_rate is not None and manifest["sample_rate"] != sample_rate:
        raise DatasetError(f"{shard_dir}: prepared at {manifest['sample_rate']} Hz, the model needs {sample_rate} Hz "
                           f"(rerun tfaudio-prepare --sample-rate {sample_rate})")
    files = [str(Path(shard_dir) / s["file"]) for s in manifest["shards"] if s["examples"] > 0]
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise DatasetError(f"{missing[0]}: listed in the manifest but missing")
    spec = {"audio": tf.io.FixedLenFeature([], tf.string), "samples": tf.io.FixedLenFeature([], tf.int64),
            "key": tf.io.FixedLenFeature([], tf.string)}

    def parse(raw):
        ex = tf.io.parse_single_example(raw, spec)
        pcm = tf.io.decode_raw(ex["audio"], tf.int16, little_endian=True)
        return {"waveform": tf.cast(pcm, tf.float32) / 32767.0, "key": ex["key"]}

    ds = tf.data.Dataset.from_tensor_slices(files)
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=max(1, min(cycle_length, len(files) or 1)),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
