"""`tfaudio-prepare`: decode a large audio corpus once into sharded TFRecords."""
from __future__ import annotations

import argparse
import os
import sys

DESCRIPTION = """\
Decode an audio corpus (a folder tree of WAV / FLAC / OGG ..., or a CSV with a
'path' column) once: resampled, mixed to mono, written as 16-bit PCM into sharded
TFRecords, several shards in parallel. Every file goes to a fixed shard (a hash of
its relative path), so the result does not depend on the listing order or on
--workers. Rerun the same command after a kill: finished shards are kept, the
others are written again. manifest.json lists every shard and every file that was
skipped (unreadable, empty, not audio) with the reason.

Training commands read the folder with --data-dir.

examples:
  tfaudio-prepare --input /data/audioset/wav --out /data/audioset/shards
  tfaudio-prepare --input clips.csv --out shards --sample-rate 16000 --shards 64 --workers 8
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfaudio-prepare", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, help="folder tree of audio files, or a CSV with a 'path' column")
    p.add_argument("--out", required=True, help="output folder (created; rerun to resume)")
    p.add_argument("--sample-rate", type=int, default=16000, help="resample every file to this rate (Hz)")
    p.add_argument("--shards", type=int, help="number of shards (default: one per --files-per-shard files)")
    p.add_argument("--files-per-shard", type=int, default=1000, help="files per shard when --shards is not given")
    p.add_argument("--max-seconds", type=float, help="keep at most this many seconds of each file")
    p.add_argument("--workers", type=int, help="shards written at the same time (default: 2 x CPUs, at most 8)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    from tfaudio.runtime import load_tensorflow, user_errors

    try:
        for flag in ("sample_rate", "shards", "files_per_shard", "workers"):
            value = getattr(args, flag)
            if value is not None and value < 1:
                from tfaudio.errors import ConfigError

                raise ConfigError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
        load_tensorflow(announce=False)
        from tfaudio.data.shards import write_shards
        from tfaudio.datasets.audio_folder import list_audio

        paths, root = list_audio(args.input)
        print(f"{len(paths)} file(s) from {args.input} -> {args.out}", file=sys.stderr)
        manifest = write_shards(paths, args.out, sample_rate=args.sample_rate, num_shards=args.shards,
                                files_per_shard=args.files_per_shard, root=str(root), max_seconds=args.max_seconds,
                                workers=args.workers, progress=not args.no_progress,
                                say=lambda m: print(m, file=sys.stderr))
    except user_errors() as exc:
        print(f"tfaudio-prepare: error: {exc}", file=sys.stderr)
        return 2
    print(f"{manifest['examples']} clip(s), {manifest['seconds'] / 3600:.2f} h in {len(manifest['shards'])} shard(s); "
          f"{len(manifest['skipped'])} file(s) skipped (listed in {os.path.join(args.out, 'manifest.json')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
