"""``tfaudio-make-quality-set``: build a PESQ-labelled quality set (the paper's
clean / noisy / enhanced conditions, or families of degradations).

Thin command-line wrapper around :func:`tfaudio.systems.qualitynet.quality_set.make_quality_set`.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional

PROG = "tfaudio-make-quality-set"

DESCRIPTION = """\
Build a Quality-Net training set. By default the way the paper did (section 3.1): a
fraction of the clean utterances is kept clean, the rest is split into "noisy" (each
utterance mixed with ONE noise type at ONE SNR - unparalleled) and "enhanced" (noisy,
then a decision-directed Wiener filter). With --mix, every item draws one family of
degradations by weight instead:

  noise      additive noise at one of --snr (one noise family, then one of its files)
  enhanced   noise, then the Wiener filter
  codec      a low-rate speech codec through ffmpeg (--codecs; needs the ffmpeg program):
             gsm, amrnb, opus 6-24k, mp3 8-32k, aac 12-32k, speex, codec2, g726
  bandlimit  narrow-band telephone (300-3400 Hz via 8 kHz) or a 4-7 kHz low-pass
  clipping   0.3-20 % of the samples flattened
  dropout    3-30 % of 20 ms packets lost (bursty)
  reverb     a synthetic room, RT60 0.2-1.0 s

--holdout-codec / --holdout-noise keep whole families out of the train and dev
splits: they only occur in the test split (rows flagged zero_shot), so the test set
shows how a model does on degradations it never saw. Every item is labelled with
PESQ (ITU-T P.862 via the 'pesq' package: wide band at 16 kHz, narrow band at 8 kHz).

Inputs: --clean is searched recursively for audio (.wav .flac .sph .nist ...);
the TIMIT layout works as is (TRAIN/DR1/FCJF0/SA1.WAV, NIST SPHERE), the speaker
being the parent folder name; .PHN/.WRD/.TXT files are ignored. --noise holds noise
recordings, the noise type being the file name and a first-level sub-folder its
family (noise/babble/cafe.wav: family babble). Other sample rates are resampled.
Unreadable, empty, silent or too short files are skipped and listed, not fatal.

Outputs in --out: audio/<condition>/*.wav, train.csv, dev.csv, test.csv (speaker-
disjoint) and all.csv with columns path,score,condition,speaker,noise,snr,source
(+ family,detail,zero_shot with --mix; paths relative to the CSV), skipped.csv, summary.json and items/*.json (one
record per utterance). Runs on all cores; re-running the same command resumes and
recomputes nothing that is already finished. Same --seed, same result."""

EPILOG = """\
examples:
  # TIMIT training set + a folder of NOISEX-92 noises, the paper's eight SNRs
  tfaudio-make-quality-set --clean /data/TIMIT/TRAIN --noise /data/noisex \\
      --snr -10 -5 0 5 10 15 20 25 --out qset/

  # every family, 15 % clean, two items per clean file, speex and one noise family
  # held out for a zero-shot test
  tfaudio-make-quality-set --clean speech/ --noise noise/ --out qset/ --mix \\
      noise=0.3 enhanced=0.12 codec=0.24 bandlimit=0.09 clipping=0.08 dropout=0.08 \\
      reverb=0.09 --clean-fraction 0.15 --per-source 2 --holdout-codec speex \\
      --holdout-noise vehicle

  # quick look: 200 utterances, narrow-band PESQ at 8 kHz, 4 processes
  tfaudio-make-quality-set --clean /data/TIMIT/TRAIN --noise /data/noisex \\
      --out qset8k/ --rate 8000 --max-utterances 200 --workers 4

  # then read a split in Python:
  #   from tfaudio.systems.qualitynet.manifest import read_manifest
  #   df = read_manifest("qset/train.csv")   # path, score, condition, speaker, ...

exit status: 0 success, 2 bad arguments or input folders (one-line message)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--clean", required=True, metavar="DIR",
                   help="folder of clean speech, searched recursively (e.g. TIMIT/TRAIN)")
    p.add_argument("--noise", required=True, metavar="DIR",
                   help="folder of noise recordings; noise type = file name")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="output folder (created; re-using it resumes)")
    p.add_argument("--snr", nargs="+", type=float, metavar="DB",
                   default=[-10, -5, 0, 5, 10, 15, 20, 25],
                   help="SNR levels in dB, one drawn per utterance "
                        "(default: -10 -5 0 5 10 15 20 25, as the paper)")
    p.add_argument("--rate", type=int, default=16000, choices=(8000, 16000),
                   help="sample rate of the output and of PESQ (default 16000)")
    p.add_argument("--band", default="auto", choices=("auto", "wb", "nb"),
                   help="PESQ mode; auto = wb at 16 kHz, nb at 8 kHz (default auto)")
    p.add_argument("--clean-fraction", type=float, default=None, metavar="F",
                   help="fraction of all utterances kept clean (default 250/4620 = "
                        "0.054, as the paper)")
    p.add_argument("--enhanced-fraction", type=float, default=None, metavar="F",
                   help="fraction of all utterances enhanced (default: half of the "
                        "non-clean ones); the rest is noisy")
    p.add_argument("--mix", nargs="+", metavar="FAMILY=WEIGHT",
                   help="the families plan: weights of noise, enhanced, codec, bandlimit, "
                        "clipping, dropout, reverb (normalised; a bare name weighs 1)")
    p.add_argument("--codecs", nargs="+", metavar="NAME",
                   help="codec families of the codec condition (default: every one the "
                        "installed ffmpeg encodes, held-out ones excepted)")
    p.add_argument("--holdout-codec", nargs="+", default=[], metavar="NAME",
                   help="codec families that only the test split gets (zero-shot rows)")
    p.add_argument("--holdout-noise", nargs="+", default=[], metavar="FAMILY",
                   help="noise families (sub-folders of --noise) that only the test split "
                        "gets (zero-shot rows)")
    p.add_argument("--holdout-share", type=float, default=0.1, metavar="F",
                   help="share of the test items given to each held-out family (default 0.1)")
    p.add_argument("--per-source", type=int, default=1, metavar="K",
                   help="items made from every clean file, each with its own condition "
                        "(--mix only; default 1)")
    p.add_argument("--splits", nargs=3, type=float, default=[0.8, 0.1, 0.1],
                   metavar=("TRAIN", "DEV", "TEST"),
                   help="train/dev/test fractions of utterances (default 0.8 0.1 0.1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes for PESQ labelling (default: all cores; 1 = no "
                        "subprocesses)")
    p.add_argument("--max-utterances", type=int, default=None, metavar="N",
                   help="use a random subset of N clean files (for a quick trial)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s: %(message)s")

    def fail(msg: str) -> int:
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 2

    for flag, d in (("--clean", args.clean), ("--noise", args.noise)):
        if not os.path.isdir(d):
            return fail(f"{flag} folder not found: {d}")
    if args.workers is not None and args.workers < 1:
        return fail("--workers must be >= 1")
    if args.max_utterances is not None and args.max_utterances < 1:
        return fail("--max-utterances must be >= 1")

    from tfaudio.audio.degrade import CodecUnavailable
    from tfaudio.systems.qualitynet.conditions import parse_mix
    from tfaudio.systems.qualitynet.quality_set import PAPER_CLEAN_FRACTION, QualitySetError, make_quality_set

    try:
        mix = parse_mix(args.mix) if args.mix else None
    except ValueError as exc:
        return fail(str(exc))
    if mix is None and (args.codecs or args.holdout_codec or args.holdout_noise
                        or args.per_source != 1):
        return fail("--codecs, --holdout-codec, --holdout-noise and --per-source need --mix")
    try:
        result = make_quality_set(
            args.clean, args.noise, args.out, snrs=args.snr, sample_rate=args.rate,
            clean_fraction=(PAPER_CLEAN_FRACTION if args.clean_fraction is None
                            else args.clean_fraction),
            enhanced_fraction=args.enhanced_fraction, seed=args.seed,
            splits=args.splits, workers=args.workers, band=args.band,
            max_utterances=args.max_utterances, progress=not args.no_progress,
            mix=mix, codecs=args.codecs, holdout_codecs=args.holdout_codec,
            holdout_noises=args.holdout_noise, holdout_share=args.holdout_share,
            per_source=args.per_source,
        )
    except (QualitySetError, CodecUnavailable) as exc:
        return fail(str(exc))
    if args.quiet and not result.skipped:  # otherwise already logged as a warning
        print(result.summary())
    for name in ("train", "dev", "test", "all"):
        print(f"{name:5s} {result.manifests[name]}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
