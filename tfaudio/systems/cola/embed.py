"""`tfaudio-embed`: COLA embeddings of audio files or folders with an exported encoder.

Each file is decoded (any format libsndfile reads), mixed to mono, resampled to the
model's rate and passed whole through the exported SavedModel: one embedding per
non-overlapping 960 ms segment and their mean. Output:

* ``.npz``: ``paths [N]``, ``embeddings [N, D]`` (clip means), ``segment_embeddings
  [S, D]`` (every segment of every file, in file order) and ``segment_counts [N]``;
* ``.parquet`` (when pyarrow is installed): one row per file, ``path``,
  ``embedding`` (list of D floats), ``segments`` (count).

    from tfaudio.systems.cola.embed import Embedder
    emb = Embedder("exported_models/cola/1")
    per_segment, mean = emb(waveform)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import List

from tfaudio.export.versions import latest_export

DESCRIPTION = """\
Embed audio files with an exported COLA encoder (tfaudio-export cola): one vector
per file (the mean over its 960 ms segments) plus the per-segment vectors.

Inputs are files and / or folders (searched recursively for WAV, FLAC, OGG ...).
Unreadable files are listed on stderr and skipped (exit status 1); the others are
written. Output format from the --out ending: .npz (paths, embeddings,
segment_embeddings, segment_counts) or .parquet (path, embedding, segments; needs
pyarrow).

examples:
  tfaudio-embed clips/ --out embeddings.npz
  tfaudio-embed a.wav b.flac --model exported_models/cola/3 --out emb.parquet
"""


class Embedder:
    """An exported COLA encoder SavedModel."""

    def __init__(self, model_dir):
        from tfaudio.runtime import load_tensorflow

        tf = load_tensorflow(announce=False)
        from tfaudio.errors import ExportError

        self.dir = Path(model_dir)
        meta_path = self.dir / "export.json"
        if not meta_path.is_file():
            raise ExportError(f"{self.dir}: not an exported COLA model (no export.json); use tfaudio-export cola")
        meta = json.loads(meta_path.read_text())
        if meta.get("model") != "cola" or meta.get("kind") != "encoder":
            raise ExportError(f"{self.dir}: holds a {meta.get('model')!r} {meta.get('kind', '')} model, "
                              f"not a COLA encoder")
        self.fn = tf.saved_model.load(str(self.dir)).signatures["serving_default"]
        self.sample_rate = int(meta["sample_rate"])
        self.dim = int(meta["embedding_dim"])
        self._tf = tf

    def __call__(self, waveform):
        out = self.fn(waveform=self._tf.constant(waveform[None].astype("float32")))
        return out["segment_embeddings"].numpy()[0], out["embedding"].numpy()[0]


def collect(inputs) -> List[str]:
    from tfaudio.datasets.audio_folder import list_audio
    from tfaudio.errors import DatasetError

    out = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out += list_audio(p)[0]
        elif p.exists() or p.suffix:
            out.append(str(p))
        else:
            raise DatasetError(f"{p}: no such file or folder")
    return out



def write_output(path: Path, paths, means, segments, counts) -> None:
    import numpy as np

    from tfaudio.atomic import write_bytes

    if path.suffix == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            from tfaudio.errors import ConfigError

            raise ConfigError(f"--out {path}: writing parquet needs pyarrow (pip install pyarrow); use .npz")
        import io

        table = pa.table({"path": paths, "embedding": [m.tolist() for m in means], "segments": counts})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        write_bytes(path, buf.getvalue())
        return
    import io

    buf = io.BytesIO()
    np.savez(buf, paths=np.array(paths, dtype=str), embeddings=np.asarray(means, np.float32).reshape(len(paths), -1),
             segment_embeddings=np.concatenate(segments).astype(np.float32) if segments else np.zeros((0, 0)),
             segment_counts=np.asarray(counts, np.int64))
    write_bytes(path, buf.getvalue())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfaudio-embed", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="PATH", help="audio files and / or folders")
    p.add_argument("--out", required=True, help="output file: .npz or .parquet")
    p.add_argument("--model", help="exported encoder version folder (default: newest under ./exported_models/cola)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    from tfaudio.runtime import user_errors

    try:
        out = Path(args.out)
        if out.suffix not in (".npz", ".parquet"):
            from tfaudio.errors import ConfigError

            raise ConfigError(f"--out {out}: use a .npz or .parquet file name")
        files = collect(args.inputs)
        emb = Embedder(args.model or latest_export("cola", "COLA encoder"))
        from tqdm.auto import tqdm

        from tfaudio.audio import AudioError, load_audio

        paths, means, segments, counts, failed = [], [], [], [], 0
        for path in tqdm(files, desc="embed", unit="file", disable=args.no_progress):
            try:
                wave = load_audio(path, sample_rate=emb.sample_rate)
            except AudioError as exc:
                print(f"skipped: {exc}", file=sys.stderr)
                failed += 1
                continue
            seg, mean = emb(wave)
            paths.append(str(path))
            means.append(mean)
            segments.append(seg)
            counts.append(len(seg))
        if not paths:
            from tfaudio.errors import AudioError as _AudioError

            raise _AudioError(args.inputs[0], "no readable audio file among the inputs")
        write_output(out, paths, means, segments, counts)
    except user_errors() as exc:
        print(f"tfaudio-embed: error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(paths)} file(s) -> {out} ({emb.dim}-d; {failed} skipped)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
