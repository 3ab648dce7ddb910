"""Scoring long audio in blocks, with memory flat in the file length.

Quality-Net scores a whole file in one pass: the utterance score is the mean of the
frame scores ``q_t`` over all frames, frame ``t`` centred on sample ``t * hop``
(``hop`` = 256 at 16 kHz, centred 512-sample frames, ``1 + n // hop`` frames). Memory
and the runtime's buffers grow with the file. Here a file is

1. scanned once, streaming (libsndfile blocks, mono mixdown, ``soxr.ResampleStream``
   when the rate differs; the stream gives the same samples as a one-shot
   resample): length at the model rate, peak of that signal, clipped samples and
   non-finite samples (an error naming the file);
2. read again, streaming, and cut into *blocks*: ``block_frames`` core frames plus
   ``context_frames`` either side, frame aligned (a block starts at a multiple of the
   hop, so its frames are exactly the whole file's frames). Each block goes through
   the model and only its core frames are kept; the utterance score is the mean of
   all kept frames, i.e. what the model computes on the whole file.

Two things differ inside a block and are handled:

* Peak normalisation. The model divides its input by the input's peak, so a block
  would be normalised by its own peak instead of the file's. A block whose peak is
  below the file's gets one sample set to the file's peak (same sign), at the block
  edge that is not a file edge, i.e. inside the discarded context. The in-graph
  normalisation then divides by the file's peak, as for the whole file.
* The BLSTM's state at a block edge starts from zero instead of carrying the whole
  past/future. The forget gate (bias -3 at init) makes this decay, but a trained
  model remembers longer: for the paper-size model trained on the embedded set
  (dev LCC 0.95), 20 s blocks of a 3-minute file gave a largest frame-score error
  of 0.84 at 0.5 s of context, 0.09 at 1 s, 0.05 at 2 s, 2.4e-7 at 3 s and 0 from
  6 s (utterance score: 4.7e-4, 2.7e-5, 8.2e-6, 1.1e-7, 1.1e-7). With a randomly
  initialised model 0.25 s is enough. :data:`CONTEXT_SECONDS` = 8 s keeps a
  margin; it costs 2 x 8 / 60 = 27 % extra compute on long files.
  ``benchmarks/long_audio.py`` checks the difference for the model at hand.

A file no longer than one block plus its context is scored in one pass, unchanged.
Works with any scorer function ``waveform [n] float32 -> (score, frame_scores [1 + n // hop])``
(SavedModel, checkpoint, TFLite).
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Callable, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from tfaudio.audio.io import too_short_reason
from tfaudio.errors import AudioError

#: Core length of a block (seconds of audio whose frames a block contributes).
BLOCK_SECONDS = 60.0
#: Audio either side of a block's core that is run through the model and discarded.
CONTEXT_SECONDS = 8.0
#: Samples read from the file at a time.
READ_CHUNK = 1 << 16
CLIP_LEVEL = 0.999  # |x| at or above this counts as full scale

ScoreFn = Callable[[np.ndarray], Tuple[float, np.ndarray]]


@dataclasses.dataclass
class AudioScan:
    """What the first streaming pass learns about a file."""

    path: str
    samplerate: int  # the file's rate
    channels: int
    samples: int  # length at the model rate, mono
    peak: float  # of the mono signal at the model rate
    clipped: int  # samples of the file (any channel) at full scale
    values: int  # samples of the file over all channels


def stream_audio(path, sample_rate: int, chunk: int = READ_CHUNK
                 ) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """Yield ``(raw [k, channels], mono at sample_rate)`` pieces of ``path`` in order.

    Raises :class:`AudioError` naming the file when it is missing, unreadable, empty
    or holds non-finite samples.
    """
    import soundfile as sf
    import soxr

    from tfaudio.audio import audio_info

    path = os.fspath(path)
    info = audio_info(path)
    if info.frames == 0:
        raise AudioError(path, "file holds no samples (empty audio)")
    stream = None
    if info.samplerate != sample_rate:
        stream = soxr.ResampleStream(info.samplerate, sample_rate, 1, dtype="float32",
                                     quality="HQ")
    got = 0
    try:
        with sf.SoundFile(path) as f:
            while True:
                raw = f.read(chunk, dtype="float32", always_2d=True)
                last = raw.shape[0] < chunk
                got += raw.shape[0]
                if raw.shape[0] and not np.all(np.isfinite(raw)):
                    raise AudioError(path, "audio contains NaN or infinite samples")
                mono = raw.mean(axis=1) if raw.shape[1] > 1 else raw[:, 0]
                mono = np.ascontiguousarray(mono, dtype=np.float32)
                if stream is not None:
                    mono = np.ascontiguousarray(stream.resample_chunk(mono, last=last),
                                                dtype=np.float32)
                if raw.shape[0] or mono.shape[0]:
                    yield raw, mono
                if last:
                    break
    except AudioError:
        raise
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise AudioError(path, f"decoding failed ({exc})") from exc
    if got == 0:
        raise AudioError(path, "file holds no samples (empty audio)")


def scan_audio(path, sample_rate: int, min_samples: int = 0) -> AudioScan:
    """First pass: length, peak and clipping (see module docstring), streaming.

    A file shorter than ``min_samples`` at ``sample_rate`` raises :class:`AudioError`.
    """
    from tfaudio.audio import audio_info

    info = audio_info(path)
    n = values = clipped = 0
    peak = 0.0
    for raw, mono in stream_audio(path, sample_rate):
        n += mono.shape[0]
        values += raw.size
        clipped += int(np.count_nonzero(np.abs(raw) >= CLIP_LEVEL))
        if mono.shape[0]:
            peak = max(peak, float(np.max(np.abs(mono))))
    if n < min_samples:
        raise AudioError(path, too_short_reason(n, sample_rate, min_samples))
    return AudioScan(os.fspath(path), int(info.samplerate), int(info.channels), n, peak,
                     clipped, values)


@dataclasses.dataclass(frozen=True)
class BlockPlan:
    """Sample ranges of the blocks and of their kept (core) frames."""

    samples: int
    hop: int
    block_frames: int
    context_frames: int

    @property
    def frames(self) -> int:
        return 1 + self.samples // self.hop

    def blocks(self) -> List[Tuple[int, int, int, int]]:
        """``(start, end, first_core_frame, end_core_frame)`` per block (samples, frames)."""
        n, hop, b, c = self.frames, self.hop, self.block_frames, self.context_frames
        if b <= 0 or n <= b + 2 * c:
            return [(0, self.samples, 0, n)]
        out = []
        for a in range(0, n, b):
            z = min(a + b, n)
            start = max(0, a - c) * hop
            end = min(self.samples, (z + c) * hop)
            out.append((start, end, a, z))
        return out


def plan_blocks(samples: int, sample_rate: int, hop: int,
                block_seconds: Optional[float] = BLOCK_SECONDS,
                context_seconds: float = CONTEXT_SECONDS) -> BlockPlan:
    """Blocks of ``block_seconds`` (None or 0: one block) with ``context_seconds`` each
    side, both rounded up to whole frames."""
    b = 0 if not block_seconds else max(1, math.ceil(block_seconds * sample_rate / hop))
    c = max(0, math.ceil(context_seconds * sample_rate / hop))
    return BlockPlan(int(samples), int(hop), b, c)


def _with_peak(block: np.ndarray, peak: float, at_start: bool) -> np.ndarray:
    """``block`` with one edge sample set to ``peak`` if its own peak is lower."""
    if block.size == 0 or float(np.max(np.abs(block))) >= peak:
        return block
    block = block.copy()
    i = 0 if at_start else block.size - 1
    block[i] = peak if block[i] >= 0 else -peak
    return block


def score_pieces(fn: ScoreFn, pieces: Iterable[np.ndarray], plan: BlockPlan, peak: float
                 ) -> Tuple[float, np.ndarray]:
    """Score a signal given as consecutive pieces (at the model rate) block by block.

    ``plan.samples`` must be the total length and ``peak`` the max ``|x|`` over it.
    Returns ``(score, frame_scores [plan.frames])``; the score is the mean of all
    frame scores. Holds at most one block plus one piece in memory.
    """
    blocks = plan.blocks()
    if len(blocks) == 1:  # the whole signal in one pass
        x = np.concatenate(list(pieces)) if not isinstance(pieces, np.ndarray) else pieces
        score, frames = fn(np.ascontiguousarray(x, dtype=np.float32))
        return float(score), np.asarray(frames, np.float32)
    it = iter(pieces)
    buf: List[np.ndarray] = []
    buf_start = 0  # file sample index of buf[0][0]
    buf_len = 0
    kept: List[np.ndarray] = []
    for start, end, a, z in blocks:
        while buf_start + buf_len < end:
            piece = next(it, None)
            if piece is None:
                break
            buf.append(piece)
            buf_len += piece.shape[0]
        joined = np.concatenate(buf) if len(buf) != 1 else buf[0]
        if buf_start + joined.shape[0] < end:
            raise ValueError(f"the signal ended at sample {buf_start + joined.shape[0]}, "
                             f"expected {plan.samples}")
        block = joined[start - buf_start:end - buf_start]
        block = _with_peak(block, peak, at_start=start > 0)
        _, frames = fn(np.ascontiguousarray(block, dtype=np.float32))
        frames = np.asarray(frames, np.float32)
        first = a - start // plan.hop
        core = frames[first:first + (z - a)]
        if core.shape[0] != z - a:
            raise ValueError(f"block [{start}, {end}) gave {frames.shape[0]} frames, "
                             f"expected at least {first + z - a}")
        kept.append(core.copy())
        # keep only what the next block needs
        drop = max(0, min(joined.shape[0], (max(0, z - plan.context_frames) * plan.hop)
                          - buf_start))
        buf = [joined[drop:]]
        buf_start += drop
        buf_len = buf[0].shape[0]
    frames = np.concatenate(kept)
    return float(np.mean(frames, dtype=np.float64)), frames


def score_waveform(fn: ScoreFn, waveform: np.ndarray, hop: int, sample_rate: int,
                   block_seconds: Optional[float] = BLOCK_SECONDS,
                   context_seconds: float = CONTEXT_SECONDS) -> Tuple[float, np.ndarray]:
    """Block scoring of an in-memory waveform (same result as :func:`score_file`)."""
    x = np.asarray(waveform, np.float32)
    plan = plan_blocks(x.shape[0], sample_rate, hop, block_seconds, context_seconds)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return score_pieces(fn, [x], plan, peak)


def score_file(fn: ScoreFn, path, scan: AudioScan, sample_rate: int, hop: int,
               block_seconds: Optional[float] = BLOCK_SECONDS,
               context_seconds: float = CONTEXT_SECONDS) -> Tuple[float, np.ndarray]:
    """Second pass: stream ``path`` (already :func:`scan_audio` ned) through ``fn`` in blocks."""
    plan = plan_blocks(scan.samples, sample_rate, hop, block_seconds, context_seconds)
    pieces = (mono for _, mono in stream_audio(path, sample_rate))
    return score_pieces(fn, pieces, plan, scan.peak)
