"""`tfaudio-detect`: sound events in audio files of any length with an exported SED model.

The model was trained on fixed-length clips (10 s). A recording is cut into
overlapping windows of that length (the last one zero padded), every window is
scored, the frame scores are stitched on one frame grid (each frame from the window
in which it is most central), and the post-processing of evaluation (threshold,
median filter, runs -> events) turns them into events. Output: a DCASE-style TSV
(``filename onset offset event_label``).

    from tfaudio.systems.sed.detect import Detector
    det = Detector("exported_models/sed/1")
    scores = det.scores(waveform)            # [frames, classes]
    events = det.events(waveform)            # [(onset, offset, label), ...]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import List, Optional

from tfaudio.export.versions import latest_export

DESCRIPTION = """\
Detect sound events in audio files of any length (an hour is fine) with an exported
SED model (tfaudio-export sed).

Each file is mixed to mono, resampled to the model's rate, cut into overlapping
windows of the training clip length (--hop seconds apart, default half a window),
scored, stitched and post-processed with the model's threshold and median filter
(override with --threshold / --median). Events go to stdout (or --out) as a TSV:
filename, onset, offset, event_label (seconds). Unreadable files are listed on
stderr and skipped (exit status 1).

examples:
  tfaudio-detect recording.wav --model exported_models/sed/1
  tfaudio-detect day.flac --model exported_models/sed/1 --out day.tsv --plot day.png
"""


class Detector:
    """An exported SED SavedModel plus the settings it was exported with."""

    def __init__(self, model_dir, threshold: Optional[float] = None, median: Optional[int] = None,
                 hop_seconds: Optional[float] = None, batch: int = 8):
        from tfaudio.runtime import load_tensorflow

        tf = load_tensorflow(announce=False)  # without its load-time log lines

        from tfaudio.errors import ExportError

        self.dir = Path(model_dir)
        meta_path = self.dir / "export.json"
        if not meta_path.is_file():
            raise ExportError(f"{self.dir}: not an exported SED model (no export.json); use tfaudio-export sed")
        meta = json.loads(meta_path.read_text())
        if meta.get("model") != "sed":
            raise ExportError(f"{self.dir}: holds a {meta.get('model')!r} model, not an SED model")
        self.fn = tf.saved_model.load(str(self.dir)).signatures["serving_default"]
        self.classes: List[str] = (self.dir / "assets" / "class_names.txt").read_text().split()
        self.hop = float((self.dir / "assets" / "frame_hop_seconds.txt").read_text())
        self.sample_rate = int(meta["sample_rate"])
        self.window = int(meta["clip_samples"])
        post = meta.get("post", {})
        self.threshold = post.get("threshold", 0.5) if threshold is None else threshold
        self.median = post.get("median_frames", 1) if median is None else median
        self.min_seconds = post.get("min_event_seconds", 0.0)
        self.window_hop = hop_seconds if hop_seconds is not None else self.window / self.sample_rate / 2
        self.frame_samples = int(round(self.hop * self.sample_rate))
        self.batch = batch
        self.frames_per_window = int(self.fn(waveform=tf.zeros([1, self.window]))["frame_probabilities"].shape[1])
        self._tf = tf

    def _score(self, windows):
        return self.fn(waveform=self._tf.constant(windows))["frame_probabilities"].numpy()

    def scores(self, waveform):
        """Frame probabilities ``[frames, classes]`` of a waveform at :attr:`sample_rate`."""
        from tfaudio.systems.sed.postprocess import stitch

        return stitch(waveform, self.window, self.frame_samples, self.frames_per_window, self._score,
                      self.window_hop, self.sample_rate, self.batch)

    def events(self, waveform, scores=None):
        from tfaudio.systems.sed.postprocess import decode

        scores = self.scores(waveform) if scores is None else scores
        return decode(scores, self.classes, self.hop, self.threshold, self.median, self.min_seconds)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfaudio-detect", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="FILE", help="audio files")
    p.add_argument("--model", help="exported SavedModel version folder (default: newest under "
                   "./exported_models/sed)")
    p.add_argument("--out", help="write the TSV here instead of stdout")
    p.add_argument("--plot", metavar="PNG", help="frame probabilities + events (with several files: a folder)")
    p.add_argument("--threshold", type=float, help="decision threshold (default: the model's)")
    p.add_argument("--median", type=int, help="median filter length in frames (default: the model's)")
    p.add_argument("--hop", type=float, help="seconds between window starts (default: half a window)")
    return p



def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    from tfaudio.runtime import load_tensorflow, user_errors

    load_tensorflow(announce=False)
    from tfaudio.audio import AudioError, load_audio

    try:
        if args.threshold is not None and not 0 < args.threshold < 1:
            raise ValueError(f"--threshold {args.threshold}: must be between 0 and 1")
        if args.hop is not None and not args.hop > 0:
            raise ValueError(f"--hop {args.hop}: must be > 0")
        det = Detector(args.model or latest_export("sed", "SED model"), args.threshold,
                       args.median, args.hop)
    except user_errors() + (ValueError,) as exc:
        print(f"tfaudio-detect: error: {exc}", file=sys.stderr)
        return 2
    lines = ["filename\tonset\toffset\tevent_label"]
    failed = 0
    several = len(args.inputs) > 1
    for path in args.inputs:
        try:
            wave = load_audio(path, sample_rate=det.sample_rate)
        except AudioError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            failed += 1
            continue
        scores = det.scores(wave)
        events = det.events(wave, scores)
        name = Path(path).name
        lines += [f"{name}\t{on:.3f}\t{off:.3f}\t{lab}" for on, off, lab in events]
        print(f"{path}: {len(wave) / det.sample_rate:.1f} s, {len(events)} event(s)", file=sys.stderr)
        if args.plot:
            from tfaudio.systems.sed.plots import plot_clip

            target = Path(args.plot) / f"{Path(path).stem}.png" if several else Path(args.plot)
            plot_clip(target, scores, [], events, det.classes, det.hop, f"{name} ({det.dir})")
    text = "\n".join(lines) + "\n"
    if args.out:
        from tfaudio.atomic import write_text

        write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
