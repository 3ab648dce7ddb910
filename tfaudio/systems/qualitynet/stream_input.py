"""Audio sources for ``tfaudio-score --stream``: raw PCM on stdin (or a ``.raw`` /
``.pcm`` file), a WAV file read as it grows, or any finished file, each yielding
float32 mono blocks at the model's rate as soon as they can be read."""
from __future__ import annotations

import os
import struct
import sys
import time
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

import numpy as np

from tfaudio.audio.io import AudioError

RAW_FORMATS = {"s16le": ("<i2", 32768.0), "f32le": ("<f4", 1.0)}
RAW_SUFFIXES = (".raw", ".pcm")
BLOCK_SECONDS = 0.1


class WavHeader:
    """Format and data offset of a (possibly growing) RIFF/WAVE file."""

    def __init__(self, rate: int, channels: int, dtype: str, scale: float, offset: int,
                 size: Optional[int]):
        self.rate, self.channels, self.dtype, self.scale = rate, channels, dtype, scale
        self.offset, self.size = offset, size  # size None: not final yet

    @property
    def frame_bytes(self) -> int:
        return np.dtype(self.dtype).itemsize * self.channels


def read_wav_header(fh: BinaryIO, path: str, wait: float = 5.0) -> WavHeader:
    """Parse the header (waiting up to ``wait`` seconds for a file that is still being
    written); PCM 8/16/24/32-bit and float 32-bit, also WAVE_FORMAT_EXTENSIBLE."""
    deadline = time.monotonic() + wait
    while True:
        fh.seek(0)
        head = fh.read(4096)
        try:
            return _parse_header(head, path)
        except _Incomplete:
            if time.monotonic() > deadline:
                raise AudioError(path, "WAV header incomplete (the file stopped growing)") from None
            time.sleep(0.05)


class _Incomplete(Exception):
    pass


def _parse_header(head: bytes, path: str) -> WavHeader:
    if len(head) < 12:
        raise _Incomplete
    if head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        raise AudioError(path, "not a WAV file (--stream follows growing WAV files, raw PCM "
                               "on stdin or in .raw / .pcm files, and any finished file)")
    pos, fmt = 12, None
    while True:
        if pos + 8 > len(head):
            raise _Incomplete
        cid, size = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            if body + 16 > len(head):
                raise _Incomplete
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", head[body:body + 16])
            if tag == 0xFFFE and size >= 40 and body + 40 <= len(head):
                tag = struct.unpack("<H", head[body + 24:body + 26])[0]
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            if fmt is None:
                raise AudioError(path, "WAV data before its format chunk")
            tag, channels, rate, bits = fmt
            kinds = {(1, 16): ("<i2", 32768.0), (1, 32): ("<i4", 2.0 ** 31), (3, 32): ("<f4", 1.0),
                     (1, 8): ("u1", 128.0)}
            if (tag, bits) not in kinds:
                raise AudioError(path, f"--stream reads PCM 8/16/32-bit or float32 WAV, not "
                                       f"format {tag} with {bits} bits")
            if channels < 1 or rate < 1:
                raise AudioError(path, "WAV header names no channels or no sample rate")
            dtype, scale = kinds[(tag, bits)]
            final = size not in (0, 0xFFFFFFFF)
            return WavHeader(rate, channels, dtype, scale, body, size if final else None)
        pos = body + size + (size & 1)


def _to_float(raw: bytes, dtype: str, scale: float, channels: int) -> np.ndarray:
    x = np.frombuffer(raw, dtype=dtype).astype(np.float32)
    if dtype == "u1":
        x = x - 128.0
    x = x / scale
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return x


def _resampled(blocks: Iterator[np.ndarray], rate: int, target: int) -> Iterator[np.ndarray]:
    if rate == target:
        yield from blocks
        return
    import soxr

    rs = soxr.ResampleStream(rate, target, 1, dtype="float32")
    for b in blocks:
        out = rs.resample_chunk(b)
        if out.size:
            yield out
    tail = rs.resample_chunk(np.zeros(0, np.float32), last=True)
    if tail.size:
        yield tail


def raw_blocks(fh: BinaryIO, fmt: str, rate: int, channels: int) -> Iterator[np.ndarray]:
    dtype, scale = RAW_FORMATS[fmt]
    step = max(1, int(BLOCK_SECONDS * rate)) * np.dtype(dtype).itemsize * channels
    pending = b""
    while True:
        chunk = fh.read1(step) if hasattr(fh, "read1") else fh.read(step)
        if not chunk:
            break
        pending += chunk
        whole = len(pending) - len(pending) % (np.dtype(dtype).itemsize * channels)
        if whole:
            yield _to_float(pending[:whole], dtype, scale, channels)
            pending = pending[whole:]


def growing_wav_blocks(path: str, idle: float, poll: float = 0.05) -> Iterator[np.ndarray]:
    """Blocks of a WAV file as it is written; ends at the header's final size, or when
    the file has not grown for ``idle`` seconds."""
    with open(path, "rb") as fh:
        hdr = read_wav_header(fh, path)
        fh.seek(hdr.offset)
        step = max(1, int(BLOCK_SECONDS * hdr.rate)) * hdr.frame_bytes
        left = hdr.size
        pending, last = b"", time.monotonic()
        while left is None or left > 0:
            want = step if left is None else min(step, left)
            chunk = fh.read(want)
            if chunk:
                last = time.monotonic()
                if left is not None:
                    left -= len(chunk)
                pending += chunk
                whole = len(pending) - len(pending) % hdr.frame_bytes
                if whole:
                    yield _to_float(pending[:whole], hdr.dtype, hdr.scale, hdr.channels)
                    pending = pending[whole:]
                continue
            if time.monotonic() - last > idle:
                break
            time.sleep(poll)
            if left is None:  # the writer may have finalised the header meanwhile
                pos = fh.tell()
                fh.seek(0)
                try:
                    final = _parse_header(fh.read(4096), path).size
                except _Incomplete:
                    final = None
                fh.seek(pos)
                if final is not None:
                    left = max(0, final - (pos - hdr.offset))


def file_blocks(path: str) -> Iterator[np.ndarray]:
    """A finished file (any format soundfile reads), block by block."""
    import soundfile as sf

    try:
        info = sf.info(path)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise AudioError(path, f"unreadable ({str(exc).splitlines()[0]})") from exc
    for block in sf.blocks(path, blocksize=max(1, int(BLOCK_SECONDS * info.samplerate)),
                           dtype="float32", always_2d=True):
        yield block.mean(axis=1)


def source_rate(path: str, raw_rate: int) -> int:
    if path == "-" or path.lower().endswith(RAW_SUFFIXES):
        return raw_rate
    import soundfile as sf

    if path.lower().endswith(".wav"):
        with open(path, "rb") as fh:
            return read_wav_header(fh, path).rate
    try:
        return int(sf.info(path).samplerate)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise AudioError(path, f"unreadable ({str(exc).splitlines()[0]})") from exc


def stream_blocks(path: str, target_rate: int, raw_format: str = "s16le", raw_rate: int = 16000,
                  raw_channels: int = 1, idle: float = 2.0) -> Iterator[np.ndarray]:
    """float32 mono blocks at ``target_rate`` from ``path`` (``-`` = stdin, raw PCM)."""
    if path == "-":
        blocks = raw_blocks(sys.stdin.buffer, raw_format, raw_rate, raw_channels)
        rate = raw_rate
    elif path.lower().endswith(RAW_SUFFIXES):
        if not os.path.isfile(path):
            raise AudioError(path, "no such file")
        blocks = raw_blocks(open(path, "rb"), raw_format, raw_rate, raw_channels)
        rate = raw_rate
    elif path.lower().endswith(".wav"):
        if not os.path.isfile(path):
            raise AudioError(path, "no such file")
        rate = source_rate(path, raw_rate)
        blocks = growing_wav_blocks(path, idle)
    else:
        if not Path(path).is_file():
            raise AudioError(path, "no such file")
        rate = source_rate(path, raw_rate)
        blocks = file_blocks(path)
    return _resampled(blocks, rate, target_rate)
