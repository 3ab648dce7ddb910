"""``tfaudio-recognize``: audio file(s) -> 39-phone strings with an exported ASR model.

A file that cannot be read is listed on stderr as a skip and the others are still
recognised (exit status 1); a bad model or flag is a one-line error (exit status 2).

The exported model gives frame posteriors over the 144 HMM states; the hybrid
decoder (:mod:`.decode`, parameters from the model's ``assets/decoder.npz`` and
``decoder.json``) finds the best phone sequence, printed in the 39-phone set.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

EPILOG = """\
examples:
  tfaudio-recognize utt.wav --model exported_models/transfer-asr/1
  tfaudio-recognize a.wav b.WAV --model exported_models/transfer-asr/1 --acoustic-scale 0.5
  tfaudio-recognize utt.wav --model exported_models/transfer-asr/1 --phones48   # training phone set
"""


def load_recognizer(model_dir):
    """``(frame posterior function, decoder, decoder settings, sample rate)`` of an export."""
    import numpy as np
    import tensorflow as tf

    from tfaudio.errors import ExportError
    from tfaudio.systems.transfer.decode import HybridDecoder

    model_dir = Path(model_dir)
    assets = model_dir / "assets"
    if not (model_dir / "saved_model.pb").is_file():
        raise ExportError(f"{model_dir}: not an exported model (no saved_model.pb)")
    if not (assets / "decoder.npz").is_file():
        raise ExportError(f"{model_dir}: no assets/decoder.npz; is this an ASR export (tfaudio-export transfer --task asr)?")
    phones = (assets / "phones.txt").read_text().split()
    with np.load(assets / "decoder.npz") as z:
        decoder = HybridDecoder.from_arrays({k: z[k] for k in z.files}, phones)
    settings = json.loads((assets / "decoder.json").read_text())
    meta = json.loads((model_dir / "export.json").read_text()) if (model_dir / "export.json").exists() else {}
    fn = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    return fn, decoder, settings, int(meta.get("sample_rate", 16000))


def recognize(path, fn, decoder, settings, sample_rate: int, phones48: bool = False):
    import tensorflow as tf

    from tfaudio.audio import load_audio
    from tfaudio.errors import AudioError

    x = load_audio(path, sample_rate=sample_rate)
    if len(x) < 400:
        raise AudioError(path, f"too short: {len(x)} samples, less than one 25 ms frame")
    post = fn(waveform=tf.constant(x[None]))["frame_posteriors"].numpy()[0]
    ids = decoder.decode(post, settings["acoustic_scale"], settings["insertion_penalty"])
    return [decoder.phones[i] for i in ids] if phones48 else decoder.to39(ids)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="tfaudio-recognize", description=__doc__.splitlines()[0].split(": ", 1)[1],
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("audio", nargs="+", help="audio files (WAV, FLAC, NIST SPHERE ...; resampled to the model's rate)")
    p.add_argument("--model", required=True, help="an exported ASR model version folder")
    p.add_argument("--acoustic-scale", type=float, help="override the exported acoustic scale")
    p.add_argument("--insertion-penalty", type=float, help="override the exported phone insertion penalty")
    p.add_argument("--phones48", action="store_true", help="print the 48-phone training set instead of the 39")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfaudio.runtime import load_tensorflow, user_errors

    try:
        load_tensorflow(announce=False)
        fn, decoder, settings, sr = load_recognizer(args.model)
        if args.acoustic_scale is not None:
            settings["acoustic_scale"] = args.acoustic_scale
        if args.insertion_penalty is not None:
            settings["insertion_penalty"] = args.insertion_penalty
    except user_errors() as exc:
        print(f"tfaudio-recognize: error: {exc}", file=sys.stderr)
        return 2
    from tfaudio.errors import AudioError

    skipped = 0
    for path in args.audio:
        try:
            phones = recognize(path, fn, decoder, settings, sr, args.phones48)
        except AudioError as exc:  # one bad file is a listed skip; the others are still read
            print(f"skipped: {exc}", file=sys.stderr)
            skipped += 1
            continue
        print(f"{path}\t{' '.join(phones)}" if len(args.audio) > 1 else " ".join(phones))
    if skipped:
        print(f"tfaudio-recognize: {len(args.audio) - skipped} file(s) recognised, {skipped} skipped",
              file=sys.stderr)
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
