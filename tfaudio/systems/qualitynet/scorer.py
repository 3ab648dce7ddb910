"""`tfaudio-score`: Quality-Net quality scores (no clean reference) for audio files.

See ``tfaudio-score --help``. The scoring itself lives in :class:`Scorer` so it
can be used from Python too::

    from tfaudio.systems.qualitynet.scorer import load_scorer
    scorer = load_scorer(model="exported_models/qualitynet/2")
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

Model: by default the Quality-Net that ships with tfaudio (wide-band PESQ scale,
trained on recordings of real people; its card: exported_models/qualitynet/2/MODEL.md),
run through LiteRT without loading TensorFlow. Override it with --tflite FILE (the
on-device calling convention), --model DIR (an exported SavedModel version),
--run-dir DIR (best checkpoint of a training run) or --exports DIR (the newest
version under DIR/qualitynet).

Streaming (--stream SOURCE): frame scores printed as audio arrives, from raw PCM on
stdin ("-"; --raw-format, --raw-rate, --raw-channels), a .raw/.pcm file, a WAV file
read as it grows (ends at its final size, or after --idle seconds without growth),
or any finished file. Each frame is final once --lookahead seconds of audio after it
have arrived (latency up to --lookahead + --hop); the forward LSTM state is carried,
the backward one looks ahead that far, and the stream's last frames equal whole-file
scoring. Lines: "<seconds>\t<frame score>" (--json: one object per step), then
"score\t<utterance score>\t<source>". Memory stays flat however long the stream.

examples:
  tfaudio-score talk.wav
  tfaudio-score calls/ --json --frames > scores.jsonl
  tfaudio-score talk.wav --frames --plot talk.png
  arecord -f S16_LE -r 16000 -c 1 | tfaudio-score --stream -
  tfaudio-score --stream call-being-recorded.wav --lookahead 0.5
  tfaudio-score talk.wav --tflite exported_models/qualitynet/2/model_float16.tflite
  tfaudio-score calls/ --run-dir runs/qualitynet --plot plots/
"""

CLIP_MIN_SAMPLES = 3
SILENCE_PEAK = 1e-4


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tfaudio-score", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="PATH", help="audio files and/or folders")
    p.add_argument("--frames", action="store_true", help="also print the frame scores")
    p.add_argument("--plot", metavar="PNG", help="spectrogram + frame scores; with several files "
                   "a folder receiving <name>.png per file")
    p.add_argument("--json", action="store_true", help="one JSON object per file on stdout")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--tflite", metavar="FILE", help="a Quality-Net .tflite (e.g. "
                     "exported_models/qualitynet/2/model.tflite)")
    src.add_argument("--model", metavar="DIR", help="an exported SavedModel version folder")
    src.add_argument("--run-dir", metavar="DIR", help="a training run (best checkpoint)")
    p.add_argument("--exports", metavar="DIR",
                   help="use the newest export under DIR/qualitynet/<version> instead of the "
                   "shipped model")
    p.add_argument("--threads", type=int, default=1, help="LiteRT threads (--tflite)")
    p.add_argument("--block-seconds", type=float, default=BLOCK_SECONDS, metavar="S",
                   help="score files longer than S seconds (plus context) in blocks of S "
                   "seconds; 0 = every file in one pass (memory grows with the length)")
    p.add_argument("-q", "--quiet", action="store_true", help="no notes / warnings on stderr")
    st = p.add_argument_group("streaming")
    st.add_argument("--stream", metavar="SOURCE",
                    help="score SOURCE as it arrives: - (raw PCM on stdin), a .raw/.pcm file, a "
                    "growing WAV file or any finished file")
    st.add_argument("--lookahead", type=float, metavar="S",
                    help="seconds of audio after a frame before its score is final (default "
                    "512 frames = 8.19 s at 16 kHz: streamed frame scores then equal "
                    "whole-file scores; less look-ahead is faster to answer but approximate, "
                    "see the shipped model's MODEL.md)")
    st.add_argument("--hop", type=float, default=1.0, metavar="S",
                    help="seconds of frames scored per step (rounded to whole 16-frame chunks)")
    st.add_argument("--peak", type=float, metavar="P",
                    help="normalise by this peak (e.g. 1.0 for full scale) instead of the "
                    "running peak of the stream")
    st.add_argument("--raw-format", choices=("s16le", "f32le"), default="s16le",
                    help="sample format of raw PCM input")
    st.add_argument("--raw-rate", type=int, default=16000, help="sample rate of raw PCM input")
    st.add_argument("--raw-channels", type=int, default=1, help="channels of raw PCM input")
    st.add_argument("--idle", type=float, default=2.0, metavar="S",
                    help="a growing WAV file ends after S seconds without new data")
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
        from tfaudio.runtime import load_tensorflow

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
        from tfaudio.runtime import load_tensorflow

        tf = load_tensorflow(announce=False)  # without its load-time log lines

        from tfaudio.systems.qualitynet.export import qualitynet_serving_module
        from tfaudio.systems.qualitynet.run import load_trained_model

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


def _check_tflite(tflite) -> None:
    if not Path(tflite).exists():
        raise ExportError(f"{tflite}: no such TFLite file")
    if not Path(tflite).is_file():
        raise ExportError(f"{tflite}: not a file (pass the .tflite file, e.g. "
                          f"exported_models/qualitynet/2/model.tflite)")
    if Path(tflite).stat().st_size == 0:
        raise ExportError(f"{tflite}: not a TFLite model (empty file)")


def _check_saved_model(model) -> None:
    if not Path(model).is_dir():
        raise ExportError(f"{model}: no such SavedModel folder")
    if not (Path(model) / "saved_model.pb").is_file():
        raise ExportError(f"{model}: not a SavedModel folder (no saved_model.pb); pass "
                          f"a version folder such as exported_models/qualitynet/2")


def _fallback_source(exports: Optional[str]):
    """``("model", dir)`` / ``("run", dir)`` when the shipped model is not used."""
    from tfaudio.export.versions import latest_version

    if exports is not None:
        newest = latest_version(Path(exports) / "qualitynet")
        if newest is None:
            raise RunDirError(f"no Quality-Net export under {exports}/qualitynet")
        return "model", newest
    newest = latest_version(Path("exported_models") / "qualitynet")
    if newest is not None:
        return "model", newest
    run = Path("runs/qualitynet")
    if (run / "train" / "config.json").exists() or (run / "config.json").exists():
        return "run", run
    raise RunDirError("no Quality-Net model found: this install has no shipped model, and "
                      "there is nothing under exported_models/qualitynet and no "
                      "runs/qualitynet. Train one (`tfaudio-train qualitynet`) and export it "
                      "(`tfaudio-export qualitynet`), or pass --model / --tflite / --run-dir")


def load_scorer(tflite=None, model=None, run_dir=None, exports=None,
                num_threads: int = 1) -> Scorer:
    """The scorer for the given source; by default the shipped model through LiteRT
    (see the command's help).

    A ``tflite`` / ``model`` that is missing or not a Quality-Net model raises
    :class:`~tfaudio.errors.ExportError` naming it."""
    if tflite:
        _check_tflite(tflite)
        return TFLiteScorer(tflite, num_threads)
    if model:
        _check_saved_model(model)
        return SavedModelScorer(model)
    if run_dir:
        return CheckpointScorer(run_dir)
    from tfaudio.systems.qualitynet.shipped import SHIPPED_VERSION, shipped_dir

    shipped = shipped_dir() if exports is None else None
    if shipped is not None:
        scorer = TFLiteScorer(shipped / "model.tflite", num_threads)
        scorer.description = (f"the shipped Quality-Net v{SHIPPED_VERSION} (wide-band PESQ "
                              f"scale; card: {shipped / 'MODEL.md'})")
        return scorer
    kind, path = _fallback_source(exports)
    return SavedModelScorer(path) if kind == "model" else CheckpointScorer(path)


def load_stream(tflite=None, model=None, run_dir=None, exports=None, num_threads: int = 1):
    """``(step, units, chunk, model config dict, description)`` for streaming, from the
    same sources as :func:`load_scorer`: a ``model_stream.tflite`` (``--tflite`` may
    name it or the ``model.tflite`` beside it), a SavedModel's ``stream`` signature
    or a run's checkpoint."""
    from tfaudio.systems.qualitynet import streaming as S

    def from_tflite(path: Path, description: str):
        path = Path(path)
        if path.name != "model_stream.tflite":
            path = path.parent / "model_stream.tflite"
        _check_tflite(path)
        cfg = _export_model_config(path.parent / "export.json")
        return (S.tflite_step(path, num_threads), S.units_of_tflite(path),
                int(cfg.get("lstm_chunk", S.STREAM_CHUNK)), cfg, description or f"TFLite {path}")

    if tflite:
        return from_tflite(tflite, "")
    if model or run_dir is None:
        if model:
            _check_saved_model(model)
            source = ("model", Path(model))
        else:
            from tfaudio.systems.qualitynet.shipped import SHIPPED_VERSION, shipped_dir

            shipped = shipped_dir() if exports is None else None
            if shipped is not None:
                return from_tflite(shipped / "model_stream.tflite",
                                   f"the shipped Quality-Net v{SHIPPED_VERSION} (streaming "
                                   f"TFLite)")
            source = _fallback_source(exports)
        if source[0] == "model":
            from tfaudio.runtime import load_tensorflow

            tf = load_tensorflow(announce=False)
            loaded = tf.saved_model.load(str(source[1]))
            if "stream" not in loaded.signatures:
                raise ExportError(f"{source[1]}: this export has no 'stream' signature (export "
                                  f"it again with this version of tfaudio)")
            cfg = _export_model_config(source[1] / "export.json")
            sig = loaded.signatures["stream"]
            units = int(sig.structured_input_signature[1]["h"].shape[-1])
            return (S.saved_model_step(sig), units, int(cfg.get("lstm_chunk", S.STREAM_CHUNK)),
                    cfg, f"SavedModel {source[1]} (stream signature)")
        run_dir = source[1]
    from tfaudio.runtime import load_tensorflow

    load_tensorflow(announce=False)
    from tfaudio.systems.qualitynet.run import load_trained_model

    net, cfg = load_trained_model(run_dir)
    return (S.keras_step(net), net.config.lstm_units, net.config.lstm_chunk,
            net.config.to_dict(), f"best checkpoint of {run_dir}")


def _export_model_config(export_json: Path) -> dict:
    if export_json.exists():
        return json.loads(export_json.read_text()).get("config", {}).get("model", {})
    return {}


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

    if args.stream is not None:
        if args.inputs:
            print("tfaudio-score: error: --stream scores one source; give no other PATH",
                  file=sys.stderr)
            return 2
        return stream_main(args, err)
    if not args.inputs:
        print("tfaudio-score: error: give audio files or folders to score (or --stream SOURCE)",
              file=sys.stderr)
        return 2
    files, skipped = find_audio(args.inputs)
    for path, reason in skipped:
        print(f"skipped: {path}: {reason}", file=sys.stderr)
    if not files:
        print("tfaudio-score: error: no audio files to score", file=sys.stderr)
        return 2

    import numpy as np

    from tfaudio.audio import AudioError, load_audio
    from tfaudio.runtime import user_errors

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
            from tfaudio.systems.qualitynet.plots import frame_plot

            out = _plot_path(args.plot, path, several)
            wave = load_audio(path, sample_rate=scorer.sample_rate)  # the plot needs it all
            frame_plot(out, [(f"{path.name} ({seconds:.1f} s)", wave, {"Quality-Net": frames})],
                       scorer.sample_rate, scorer.frame_length, scorer.frame_step,
                       title=f"score {score:.3f}")
            err(f"plot: {out}")
    if skipped:
        err(f"{scored} file(s) scored, {len(skipped)} skipped")
    return 1 if skipped else 0


def stream_main(args, err) -> int:
    """``--stream``: frame scores as the audio arrives (see the command's help)."""
    import numpy as np

    from tfaudio.runtime import user_errors
    from tfaudio.systems.qualitynet import streaming as S
    from tfaudio.systems.qualitynet.stream_input import stream_blocks

    def fail(msg):
        print(f"tfaudio-score: error: {msg}", file=sys.stderr)
        return 2

    if (args.lookahead is not None and args.lookahead < 0) or args.hop <= 0:
        return fail("--lookahead must be >= 0 and --hop > 0 seconds")
    if args.raw_rate < 1 or args.raw_channels < 1:
        return fail("--raw-rate and --raw-channels must be positive")
    if args.peak is not None and not args.peak > 0:
        return fail("--peak must be > 0")
    try:
        step, units, chunk, mcfg, description = load_stream(
            args.tflite, args.model, args.run_dir, args.exports, args.threads)
    except user_errors() as exc:
        return fail(exc)
    rate = int(mcfg.get("sample_rate", 16000))
    frame_step = int(mcfg.get("frame_step", 256))
    frame_length = int(mcfg.get("frame_length", 512))
    hop_frames = max(chunk, int(round(args.hop * rate / frame_step / chunk)) * chunk)
    look = (S.DEFAULT_LOOKAHEAD if args.lookahead is None
            else int(round(args.lookahead * rate / frame_step)))
    scorer = S.StreamingScorer(step, units, lookahead=look, hop=hop_frames, peak=args.peak,
                               frame_step=frame_step, frame_length=frame_length,
                               sample_rate=rate, chunk=chunk)
    err(f"model: {description}; look-ahead {look} frames, step {hop_frames} frames "
        f"(latency up to {scorer.latency_seconds:.2f} s)")
    hop_s = frame_step / rate

    def emit(q):
        if not q.size:
            return
        first = scorer.frames - q.size
        if args.json:
            print(json.dumps({"first_frame": first, "seconds": round(first * hop_s, 4),
                              "frame_hop_seconds": hop_s,
                              "frame_scores": [round(float(v), 5) for v in q]}), flush=True)
        else:
            print("\n".join(f"{(first + i) * hop_s:.3f}\t{float(v):.3f}" for i, v in enumerate(q)),
                  flush=True)

    try:
        for block in stream_blocks(args.stream, rate, args.raw_format, args.raw_rate,
                                   args.raw_channels, args.idle):
            emit(scorer.feed(block))
        if scorer.samples == 0:
            return fail(f"{args.stream}: no audio arrived")
        emit(scorer.finish())
    except user_errors() as exc:
        return fail(exc)
    except ValueError as exc:  # NaN / Inf samples
        return fail(f"{args.stream}: {exc}")
    except KeyboardInterrupt:  # Ctrl-C ends the stream: score what arrived
        if scorer.samples == 0:
            return fail(f"{args.stream}: interrupted before any audio arrived")
        emit(scorer.finish())
    seconds = scorer.samples / rate
    if args.json:
        print(json.dumps({"path": args.stream, "score": round(scorer.score, 6),
                          "seconds": round(seconds, 4), "frames": scorer.frames}), flush=True)
    else:
        print(f"score\t{scorer.score:.3f}\t{args.stream}", flush=True)
    if not np.isfinite(scorer.score):
        return fail(f"{args.stream}: the model gave a non-finite score")
    return 0


if __name__ == "__main__":
    sys.exit(main())
