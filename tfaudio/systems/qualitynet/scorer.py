"""`tfaudio-score`: Quality-Net quality scores (no clean reference) for audio files.

See ``tfaudio-score --help``. The scoring itself lives in :class:`Scorer` so it
can be used from Python too::

    from tfaudio.systems.qualitynet.scorer import load_scorer
    scorer = load_scorer(model="exported_models/qualitynet/1")
    score, frames = scorer(waveform_16k)                  # one pass
    score, frames, scan = scorer.score_file("talk.wav")   # streamed, in blocks
    score, frames = scorer.score_waveform(waveform_16k)   # in blocks

Block scoring (:mod:`tfaudio.systems.qualitynet.blocks`) keeps memory flat in the
file length for every backend (SavedModel, checkpoint, TFLite).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import List, Optional, Tuple

from tfaudio.errors import ExportError, RunDirError
from tfaudio.systems.qualitynet.blocks import BLOCK_SECONDS, CONTEXT_SECONDS

DESCRIPTION = """\
Score the speech quality of audio files with Quality-Net, without a clean reference.

The score is on the scale of the training labels (PESQ-like: about 1 = bad,
4.5 = clean). With --frames every 16 ms frame gets its own score too (low where the
signal is degraded); --plot draws them under the spectrogram.

Inputs: files and/or folders (searched recursively for .wav .flac .sph .ogg .aiff
...). Audio is mixed to mono and resampled to 16 kHz when needed (it says so).
Files that cannot be used (unreadable, empty, NaN samples, shorter than one
512-sample analysis frame) are listed on stderr with the reason and skipped; the
exit status is then 1. Clipped audio and silence are scored with a warning.

Long files are read and scored in blocks (--block-seconds, default 60 s, plus 8 s
of context either side that is run through the model and discarded), so memory
stays flat in the file length; the score is still the mean over all frames of
the file and equals whole-file scoring within 1e-4. A file up to 76 s long is
scored in one pass. Peak memory of the whole process (benchmarks/long_audio.py):
--tflite about 0.2 GB for 1 to 60 minutes (TensorFlow is not loaded); SavedModel
about 0.85 GB, of which ~0.7 GB is TensorFlow itself.

Model (first found): --tflite FILE (LiteRT runtime, the on-device calling
convention), --model DIR (an exported SavedModel version), --run-dir DIR (best
checkpoint of a training run); default: the newest version under
./exported_models/qualitynet, else ./runs/qualitynet.

examples:
  tfaudio-score talk.wav
  tfaudio-score calls/ --json > scores.jsonl
  tfaudio-score talk.wav --frames --plot talk.png
  tfaudio-score talk.wav --tflite exported_models/qualitynet/1/model.tflite
  tfaudio-score calls/ --run-dir runs/qualitynet --plot plots/
"""

CLIP_MIN_SAMPLES = 3
SILENCE_PEAK = 1e-4


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfaudio-score", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="PATH", help="audio files and/or folders")
    p.add_argument("--frames", action="store_true", help="also print the frame scores")
    p.add_argument("--plot", metavar="PNG", help="spectrogram + frame scores; with several files "
                   "a folder receiving <name>.png per file")
    p.add_argument("--json", action="store_true", help="one JSON object per file on stdout")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--tflite", metavar="FILE", help="a Quality-Net .tflite (e.g. "
                     "exported_models/qualitynet/1/model.tflite)")
    src.add_argument("--model", metavar="DIR", help="an exported SavedModel version folder")
    src.add_argument("--run-dir", metavar="DIR", help="a training run (best checkpoint)")
    p.add_argument("--exports", default="exported_models",
                   help="where the default model is looked for (<exports>/qualitynet/<version>)")
    p.add_argument("--threads", type=int, default=1, help="LiteRT threads (--tflite)")
    p.add_argument("--block-seconds", type=float, default=BLOCK_SECONDS, metavar="S",
                   help="score files longer than S seconds (plus context) in blocks of S "
                   "seconds; 0 = every file in one pass (memory grows with the length)")
    p.add_argument("-q", "--quiet", action="store_true", help="no notes / warnings on stderr")
    return p


# ----------------------------------------------------------------------------------
# Scorers: waveform (1-D float32 at the model rate) -> (score, frame scores)
# ----------------------------------------------------------------------------------
class Scorer:
    sample_rate: int = 16000
    frame_length: int = 512
    frame_step: int = 256
    center: bool = True
    description: str = ""

    def _read_export_config(self, export_json: Path) -> None:
        if export_json.exists():
            cfg = json.loads(export_json.read_text()).get("config", {}).get("model", {})
            self.sample_rate = int(cfg.get("sample_rate", self.sample_rate))
            self.frame_length = int(cfg.get("frame_length", self.frame_length))
            self.frame_step = int(cfg.get("frame_step", self.frame_step))
            self.center = bool(cfg.get("center", self.center))

    def __call__(self, waveform) -> Tuple[float, "object"]:
        raise NotImplementedError

    def _block_seconds(self, block_seconds):
        # blocks rely on centred frames (frame t centred on sample t * frame_step)
        return block_seconds if self.center else None

    def score_file(self, path, scan=None, block_seconds: Optional[float] = BLOCK_SECONDS,
                   context_seconds: float = CONTEXT_SECONDS):
        """(score, frame scores, scan) of an audio file, read and scored in blocks.

        Raises :class:`~tfaudio.errors.AudioError` for a file that cannot be used,
        including one shorter than one analysis frame."""
        from tfaudio.systems.qualitynet import blocks

        if scan is None:
            scan = blocks.scan_audio(path, self.sample_rate, min_samples=self.frame_length)
        score, frames = blocks.score_file(self, path, scan, self.sample_rate, self.frame_step,
                                          self._block_seconds(block_seconds), context_seconds)
        return score, frames, scan

    def score_waveform(self, waveform, block_seconds: Optional[float] = BLOCK_SECONDS,
                       context_seconds: float = CONTEXT_SECONDS):
        """(score, frame scores) of a waveform at :attr:`sample_rate`, in blocks."""
        from tfaudio.systems.qualitynet import blocks

        return blocks.score_waveform(self, waveform, self.frame_step, self.sample_rate,
                                     self._block_seconds(block_seconds), context_seconds)


class SavedModelScorer(Scorer):
    def __init__(self, path):
        from tfaudio.cli.common import load_tensorflow

        tf = load_tensorflow(announce=False)  # without its load-time log lines

        self._tf = tf
        try:
            loaded = tf.saved_model.load(str(path))
        except Exception as exc:  # TF raises several types for a damaged / foreign folder
            raise ExportError(f"{path}: not a loadable SavedModel ({_first_line(exc)})") from exc
        if "frame_scores" not in loaded.signatures:
            raise ExportError(f"{path}: not a Quality-Net SavedModel (no 'frame_scores' "
                              f"signature; it has: {', '.join(loaded.signatures) or 'none'})")
        self.fn = loaded.signatures["frame_scores"]
        self._read_export_config(Path(path) / "export.json")
        self.description = f"SavedModel {path}"

    def __call__(self, waveform):
        out = self.fn(waveform=self._tf.constant(waveform[None, :]))
        return float(out["score"].numpy()[0]), out["frame_scores"].numpy()[0]


class CheckpointScorer(Scorer):
    def __init__(self, run_dir):
        from tfaudio.cli.common import load_tensorflow

        tf = load_tensorflow(announce=False)  # without its load-time log lines

        from tfaudio.systems.qualitynet.export import qualitynet_serving_module
        from tfaudio.systems.qualitynet.train import load_trained_model

        self._tf = tf
        model, cfg = load_trained_model(run_dir)
        self.fn = qualitynet_serving_module(model).frame_scores
        m = cfg.model
        self.sample_rate, self.frame_length, self.frame_step = m.sample_rate, m.frame_length, m.frame_step
        self.description = f"best checkpoint of {run_dir}"

    def __call__(self, waveform):
        out = self.fn(self._tf.constant(waveform[None, :]))
        return float(out["score"].numpy()[0]), out["frame_scores"].numpy()[0]


class TFLiteScorer(Scorer):
    """The on-device path: :class:`tfaudio.systems.qualitynet.model.TFLiteQualityScorer`
    (LiteRT interpreter: resize ``waveform`` to ``[1, n]``, allocate, set, invoke)."""

    def __init__(self, path, num_threads: int = 1):
        from tfaudio.systems.qualitynet.tflite_runtime import TFLiteQualityScorer

        try:
            self.scorer = TFLiteQualityScorer(path, num_threads=num_threads)
        except (ValueError, RuntimeError) as exc:  # LiteRT: not a flatbuffer / empty file
            raise ExportError(f"{path}: not a TFLite model ({_first_line(exc)})") from exc
        except KeyError as exc:
            raise ExportError(f"{path}: not a Quality-Net TFLite model (no {exc} "
                              f"input/output)") from exc
        self._read_export_config(Path(path).parent / "export.json")
        self.description = f"TFLite {path} (LiteRT, {num_threads} thread(s))"

    def __call__(self, waveform):
        out = self.scorer(waveform)
        return float(out["score"]), out["frame_scores"]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def load_scorer(tflite=None, model=None, run_dir=None, exports="exported_models",
                num_threads: int = 1) -> Scorer:
    """The scorer for the given source (see the command's help for the default).

    A ``tflite`` / ``model`` that is missing or not a Quality-Net model raises
    :class:`~tfaudio.errors.ExportError` naming it."""
    if tflite:
        if not Path(tflite).exists():
            raise ExportError(f"{tflite}: no such TFLite file")
        if not Path(tflite).is_file():
            raise ExportError(f"{tflite}: not a file (pass the .tflite file, e.g. "
                              f"exported_models/qualitynet/1/model.tflite)")
        if Path(tflite).stat().st_size == 0:
            raise ExportError(f"{tflite}: not a TFLite model (empty file)")
        return TFLiteScorer(tflite, num_threads)
    if model:
        if not Path(model).is_dir():
            raise ExportError(f"{model}: no such SavedModel folder")
        if not (Path(model) / "saved_model.pb").is_file():
            raise ExportError(f"{model}: not a SavedModel folder (no saved_model.pb); pass "
                              f"a version folder such as exported_models/qualitynet/1")
        return SavedModelScorer(model)
    if run_dir:
        return CheckpointScorer(run_dir)
    from tfaudio.systems.qualitynet.export import newest_export

    newest = newest_export(exports)
    if newest is not None:
        return SavedModelScorer(newest)
    run = Path("runs/qualitynet")
    if (run / "train" / "config.json").exists() or (run / "config.json").exists():
        return CheckpointScorer(run)
    raise RunDirError(f"no Quality-Net model found: nothing under {exports}/qualitynet and no "
                      f"runs/qualitynet. Train one (`tfaudio-train qualitynet`) and export it "
                      f"(`tfaudio-export qualitynet`), or pass --model / --tflite / --run-dir")


# ----------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------
def find_audio(inputs) -> Tuple[List[Path], List[Tuple[str, str]]]:
    """Files given directly, plus audio files found in given folders (sorted)."""
    from tfaudio.audio import AUDIO_EXTENSIONS
    from tfaudio.audio.files import find_audio_files

    files, missing = [], []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = find_audio_files(p)
            if not found:
                missing.append((str(p), f"folder holds no audio files ({', '.join(AUDIO_EXTENSIONS)})"))
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            missing.append((str(p), "no such file or folder"))
    return list(dict.fromkeys(files)), missing


def inspect(scan, sample_rate: int):
    """(notes, warnings) about a scanned file (:func:`tfaudio.systems.qualitynet.blocks.scan_audio`):
    resampling, channels, clipping, silence."""
    notes, warnings = [], []
    if scan.samplerate != sample_rate:
        notes.append(f"resampled from {scan.samplerate} Hz to {sample_rate} Hz")
    if scan.channels > 1:
        notes.append(f"{scan.channels} channels mixed to mono")
    # clipping is judged on the file's own samples (resampling smears the flat tops)
    full, n = scan.clipped, max(scan.values, 1)
    if full >= max(CLIP_MIN_SAMPLES, int(1e-4 * n)):
        warnings.append(f"clipped: {full} samples ({100 * full / n:.2f} %) at full scale; "
                        f"clipping distorts speech, expect a lower and less reliable score")
    if scan.peak < SILENCE_PEAK:
        warnings.append("silent (peak below -80 dBFS): the score is not meaningful")
    return notes, warnings


def _plot_path(plot: str, path: Path, several: bool) -> Path:
    target = Path(plot)
    if several or target.is_dir() or plot.endswith(os.sep):
        return target / f"{path.stem}.png"
    return target


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)

    def err(msg):
        if not args.quiet:
            print(msg, file=sys.stderr)

    files, skipped = find_audio(args.inputs)
    for path, reason in skipped:
        print(f"skipped: {path}: {reason}", file=sys.stderr)
    if not files:
        print("tfaudio-score: error: no audio files to score", file=sys.stderr)
        return 2

    import numpy as np

    from tfaudio.audio import AudioError, load_audio
    from tfaudio.cli.common import user_errors

    try:
        scorer = load_scorer(args.tflite, args.model, args.run_dir, args.exports, args.threads)
    except user_errors() as exc:
        print(f"tfaudio-score: error: {exc}", file=sys.stderr)
        return 2
    err(f"model: {scorer.description}")
    hop = scorer.frame_step / scorer.sample_rate
    several = len(files) > 1
    scored = 0
    block_seconds = args.block_seconds if args.block_seconds > 0 else None
    for path in files:
        try:
            score, frames, scan = scorer.score_file(path, block_seconds=block_seconds)
            notes, warnings = inspect(scan, scorer.sample_rate)
        except AudioError as exc:
            skipped.append((str(path), exc.reason))
            print(f"skipped: {path}: {exc.reason}", file=sys.stderr)
            continue
        if not (np.isfinite(score) and np.all(np.isfinite(frames))):
            skipped.append((str(path), "the model gave a non-finite score"))
            print(f"skipped: {path}: the model gave a non-finite score", file=sys.stderr)
            continue
        scored += 1
        for n in notes:
            err(f"note: {path}: {n}")
        for w in warnings:
            err(f"warning: {path}: {w}")
        seconds = scan.samples / scorer.sample_rate
        if args.json:
            obj = {"path": str(path), "score": round(score, 6), "seconds": round(seconds, 4)}
            if notes:
                obj["notes"] = notes
            if warnings:
                obj["warnings"] = warnings
            if args.frames:
                obj["frame_hop_seconds"] = hop
                obj["frames"] = [round(float(v), 5) for v in frames]
            print(json.dumps(obj), flush=True)
        else:
            print(f"{score:.3f}\t{path}", flush=True)
            if args.frames:
                print(f"  frames ({len(frames)} x {1000 * hop:g} ms): min {frames.min():.3f}, "
                      f"max {frames.max():.3f}; " + " ".join(f"{v:.2f}" for v in frames), flush=True)
        if args.plot:
            from tfaudio.systems.qualitynet.evaluate import frame_plot

            out = _plot_path(args.plot, path, several)
            wave = load_audio(path, sample_rate=scorer.sample_rate)  # the plot needs it all
            frame_plot(out, [(f"{path.name} ({seconds:.1f} s)", wave, {"Quality-Net": frames})],
                       scorer.sample_rate, scorer.frame_length, scorer.frame_step,
                       title=f"score {score:.3f}")
            err(f"plot: {out}")
    if skipped:
        err(f"{scored} file(s) scored, {len(skipped)} skipped")
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
