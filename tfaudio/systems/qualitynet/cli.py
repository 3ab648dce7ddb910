"""CLI of Quality-Net (non-intrusive speech quality with frame-level scores)."""
from __future__ import annotations

import argparse

from tfaudio.cli.common import add_export_flags


HELP = {
    "train": """\
Quality-Net: learn to predict an utterance's quality (e.g. PESQ) without a clean reference.

A BLSTM reads the STFT magnitude of the raw 16 kHz waveform and gives every frame a
score q_t; the utterance score Q is the mean of q_t over the valid frames. The loss
adds to the utterance MSE a frame constraint weighted by 10^(Q_true - 4.5), which
pulls the frame scores of good utterances towards the utterance score (paper
section 2.1); the forget-gate bias starts at -3 so frames depend little on distant
context (section 2.2). Utterances keep their length: batches group similar
lengths and padding never enters a score or the loss.

Data: a manifest CSV with columns path,score[,condition,speaker] (paths relative
to the CSV), e.g. written by `tfaudio-make-quality-set`. Without --manifest the
embedded synthetic set (PESQ-labelled clean / noisy / enhanced speech, built once
in the cache) is used. Without --dev, 10 % of the training speakers are held out.

The run directory gets checkpoints (every epoch, and the best by dev LCC), TensorBoard
logs, metrics.jsonl and config.json (the resolved config that eval/export read back).

examples:
  tfaudio-train qualitynet                                  # embedded set, a few minutes
  tfaudio-train qualitynet --manifest qset/train.csv --dev qset/dev.csv --config qualitynet/timit
  tfaudio-train qualitynet --no-frame-constraint --run-dir runs/qn-nofc   # Table 1 ablation
  tfaudio-train qualitynet --forget-bias 1 --run-dir runs/qn-fgb1         # Table 2 ablation
  tfaudio-train qualitynet --epochs 60 --resume              # continue a run for more epochs
  tfaudio-train qualitynet --set model.dense_units=[50] --set model.dropout=0.3
""",
    "eval": """\
Quality-Net: MSE / LCC / SRCC overall and per condition family, frame-score variance on
clean speech, and the paper's figures, written to <run-dir>/eval/ (or --out).

Every table has a reference row "baseline: ridge on spectral statistics": a ridge
regression on simple per-utterance spectral statistics, fitted on the run's own
training set (ridge strength chosen on its dev set) and scored on the same test
set. A network that does not beat it has learnt little beyond level / SNR / bandwidth.

Files: metrics.csv/.md (one row per condition family and model: clean, noisy: <noise
type>, codec, enhanced, ... with n), metrics_by_condition.csv/.md (every condition
value), metrics.json, predictions.csv, scatter.png (Fig. 4: predicted vs true,
coloured by family), frames.png (Figs. 2-3: spectrogram with frame scores below, for
a clean utterance and the same with street noise in its middle).

--table 1 trains (if needed) and evaluates the runs without / with the frame
constraint, --table 2 those with each --forget-biases value, under
<run-dir>/ablations/ (a variant equal to the main run reuses it), and writes
table1.md / table2.md with fig2_frames.png / fig3_frames.png.

examples:
  tfaudio-eval qualitynet                                   # embedded test.csv
  tfaudio-eval qualitynet --manifest qset/test.csv --run-dir runs/qn-timit
  tfaudio-eval qualitynet --table 1 2                       # paper Tables 1 and 2
  tfaudio-eval qualitynet --table 2 --forget-biases 1 -1 -3 -5 --ablation-epochs 10
""",
    "export": """\
Quality-Net: export the best checkpoint as a TF Serving SavedModel plus TFLite.

Writes <out>/qualitynet/<next version>/ atomically (existing versions are never
touched). SavedModel signatures: serving_default (waveform float32 [batch, samples],
16 kHz, any length -> score), frame_scores (-> frame_scores, score) and
padded_scores (waveform + lengths for padded batches). model.tflite uses builtin ops
only: signature serving_default, waveform [1, n] resized per clip -> score [1],
frame_scores [1, 1 + n // 256]. --quantize adds model_float16.tflite /
model_int8.tflite with their measured score error in export.json. Every artifact
is reloaded and checked (silence / noise / tone / real clips at 1 s and 5 s, TFLite
within 1e-3 of the SavedModel) before the version appears.

examples:
  tfaudio-export qualitynet
  tfaudio-export qualitynet --run-dir runs/qn-timit --quantize float16 int8
  tfaudio-export qualitynet --out /srv/models --version 3
""",
}


def add_train_args(p: argparse.ArgumentParser) -> None:
    from tfaudio.cli.common import add_train_flags

    p.add_argument("--manifest", help="training manifest (CSV path,score,...); default: embedded set")
    p.add_argument("--dev", help="dev manifest; default: embedded dev.csv, or 10 %% of the "
                   "--manifest speakers held out")
    add_train_flags(p, "runs/qualitynet", "qualitynet/timit with --manifest, qualitynet/embedded without",
                    "RMSprop", "total epochs (with --resume: continue up to this)")
    p.add_argument("--no-frame-constraint", action="store_true",
                   help="alpha = 0 in eq. (1): utterance MSE only (Table 1 'without constraint')")
    p.add_argument("--forget-bias", type=float, help="initial LSTM forget-gate bias (paper: -3)")
    p.add_argument("--max-seconds", type=float, help="crop longer training / dev utterances")
    p.add_argument("--monitor", choices=("dev_lcc", "dev_srcc", "dev_mse"),
                   help="dev metric that picks the best checkpoint")
    p.add_argument("--skip-bad-files", "--skip-bad", dest="skip_bad", action="store_true",
                   help="skip bad manifest rows and unreadable / empty / NaN / too short audio (listed) "
                   "instead of stopping")


TRAIN_FLAGS = {
    "max_seconds": "data.max_seconds", "epochs": "train.epochs", "monitor": "train.monitor",
    "forget_bias": "model.forget_bias",
}


def build_config(args):
    from pathlib import Path

    from tfaudio.cli.common import config_from_args
    from tfaudio.systems.qualitynet.config import QualityNetRunConfig, resolve_config

    recipe = args.config or ("qualitynet/timit" if args.manifest else "qualitynet/embedded")
    extra = {}
    for attr, key in (("manifest", "data.manifest"), ("dev", "data.dev_manifest")):
        if getattr(args, attr, None) is not None:  # absolute: the run config outlives the cwd
            extra[key] = str(Path(getattr(args, attr)).expanduser().resolve())
    if args.no_frame_constraint:
        extra["model.frame_constraint"] = False
    if args.skip_bad:
        extra["data.skip_bad"] = True
    return resolve_config(config_from_args(QualityNetRunConfig, recipe, args, TRAIN_FLAGS, extra))


def train(args) -> int:
    from tfaudio.systems.qualitynet.train import train as train_run

    cfg = build_config(args)
    print(f"Quality-Net -> {args.run_dir} (data: {cfg.data.manifest or 'embedded synthetic quality set'}; "
          f"frame constraint {'on' if cfg.model.frame_constraint else 'off'}, "
          f"forget-gate bias {cfg.model.forget_bias})")
    train_run(cfg, args.run_dir, resume=args.resume, progress=not args.no_progress)
    return 0


def add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-dir", default="runs/qualitynet", help="trained run directory")
    p.add_argument("--manifest", help="test manifest; default: the embedded test.csv")
    p.add_argument("--out", help="output folder (default: <run-dir>/eval)")
    p.add_argument("--table", type=int, nargs="+", choices=(1, 2),
                   help="paper table(s) to reproduce instead of evaluating the run alone")
    p.add_argument("--forget-biases", type=float, nargs="+", default=[1.0, -1.0, -3.0],
                   help="Table 2: initial forget-gate biases to compare")
    p.add_argument("--ablation-epochs", type=int,
                   help="epochs of the ablation runs (default: the main run's)")
    p.add_argument("--skip-bad-files", "--skip-bad", dest="skip_bad", action="store_true",
                   help="skip bad rows / files (listed)")
    p.add_argument("--no-baseline", action="store_true",
                   help="leave out the ridge baseline row (it is fitted on the run's training "
                   "data, which must still be readable)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def evaluate(args) -> int:
    from tfaudio.systems.qualitynet import evaluate as E

    progress = not args.no_progress
    if args.table:
        for t in args.table:
            if t == 1:
                res = E.table1(args.run_dir, args.manifest, args.out, args.ablation_epochs,
                               args.skip_bad, progress, baseline=not args.no_baseline)
            else:
                res = E.table2(args.run_dir, args.forget_biases, args.manifest, args.out,
                               args.ablation_epochs, args.skip_bad, progress,
                               baseline=not args.no_baseline)
            print(f"\nTable {t}:")
            print(res["table"].drop(columns=["run"]).to_string(float_format=lambda v: f"{v:.4f}"))
            for name, path in res["files"].items():
                print(f"{name}: {path}")
        return 0
    res = E.evaluate_run(args.run_dir, args.manifest, args.out, args.skip_bad, progress,
                         baseline=not args.no_baseline)
    m = res["metrics"]
    print("test, by condition family (n = utterances):")
    print(res["table"].to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"frame-score variance on clean speech: {m['frame_variance_clean']:.4f}")
    print(f"partial noise: noisy-region drop {m['noisy-region drop']:.3f}, "
          f"clean-region drop {m['clean-region drop']:.3f}")
    for name, path in res["files"].items():
        print(f"{name}: {path}")
    return 0


def add_export_args(p: argparse.ArgumentParser) -> None:
    add_export_flags(p, "runs/qualitynet")
    p.add_argument("--quantize", nargs="+", choices=("float16", "int8"), default=[],
                   help="also write model_<q>.tflite (float16 weights / int8 dynamic range)")
    p.add_argument("--manifest", help="manifest whose cleanest clips join the export checks "
                   "(default: the run's dev manifest, when present)")


def export(args) -> int:
    import json

    from tfaudio.systems.qualitynet.export import export_qualitynet

    path = export_qualitynet(args.run_dir, base_dir=args.out, version=args.version,
                             tflite=not args.no_tflite, quantize=args.quantize, manifest=args.manifest)
    checks = json.loads((path / "export.json").read_text())["checks"]
    print(f"exported: {path}")
    print(f"  SavedModel: {checks['saved_model_bytes'] / 1e6:.2f} MB")
    if "tflite" in checks:
        t = checks["tflite"]
        print(f"  model.tflite: {t['bytes'] / 1e6:.2f} MB, max |score - SavedModel| "
              f"{t['max_abs_diff_vs_saved_model']['score']:.2e} at {t['lengths_s']} s")
    for q in args.quantize:
        c = checks[f"tflite_{q}"]
        print(f"  {c['file']}: {c['bytes'] / 1e6:.2f} MB, max |score error| {c['max_abs_score_error']:.4f}")
    return 0


def serving_signatures() -> dict:
    """{model name: {signature: concrete function}} of this system's exports (the default
    recipe, untrained weights), read by the README's serving-signature table."""
    from tfaudio.systems.qualitynet.export import serving_functions

    return {"qualitynet": serving_functions()}
