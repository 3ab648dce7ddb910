"""The model card (``MODEL.md``) of a shipped Quality-Net, rendered from its
``export.json`` alone, so every figure in the card is a figure the export recorded
(a test renders the shipped card again and compares)."""
from __future__ import annotations

import math
from typing import Iterable, List, Mapping, Sequence


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        return f"{v:.1e}" if 0 < abs(v) < 0.5 * 10 ** -digits else f"{v:.{digits}f}"
    return str(v)


def _table(header: Sequence[str], rows: Iterable[Sequence], right: Sequence[bool] = ()) -> List[str]:
    right = list(right) + [False] * (len(header) - len(right))
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return lines


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def render(meta: Mapping) -> str:
    """``MODEL.md`` from an export's ``export.json`` (with its ``card`` section)."""
    card = meta["card"]
    checks = meta["checks"]
    data, test, cfg = card["data"], card["test"], meta["config"]
    out: List[str] = []
    add = out.append
    add(f"# {card['title']}")
    add("")
    add(card["summary"])
    add("")
    add("## Use")
    add("")
    add("```bash")
    add("tfaudio-score call.wav                 # this model, no flags (LiteRT, no TensorFlow)")
    add("tfaudio-score calls/ --json --frames   # utterance + 16 ms frame scores")
    add("tfaudio-score --stream -               # raw 16 kHz s16le PCM on stdin, frame scores as it arrives")
    add("```")
    add("")
    add("Files in this folder (sizes in bytes as exported):")
    add("")
    files = [("SavedModel (`saved_model.pb`, `variables/`, `assets/`)", checks["saved_model_bytes"],
              "TF Serving / TensorFlow: `serving_default`, `frame_scores`, `padded_scores`, `stream`")]
    files.append(("`model.tflite`", checks["tflite"]["bytes"],
                  "float32, builtin ops, input `waveform [1, n]` of any length"))
    if "tflite_float16" in checks:
        files.append(("`model_float16.tflite`", checks["tflite_float16"]["bytes"],
                      "float16 weights (half the size)"))
    if "stream" in checks:
        files.append(("`model_stream.tflite`", checks["stream"]["bytes"],
                      "one streaming step (see below)"))
    three = checks["saved_model_bytes"] + checks["tflite"]["bytes"] + checks.get(
        "tflite_float16", {}).get("bytes", 0)
    out += _table(["file", "bytes", "what"], [(f, b, w) for f, b, w in files], [False, True])
    add("")
    add(f"SavedModel + `model.tflite` + `model_float16.tflite`: {_mb(three)}.")
    add("")
    sp = card["speed"]
    add(f"CPU cost, ms of one thread per second of audio ({sp['note']}):")
    add("")
    out += _table(["runtime", "ms / audio s"],
                  [(k, v) for k, v in sp["ms_per_audio_second"].items()], [False, True])
    add("")
    add("## What it predicts, and its limits")
    add("")
    for line in card["limits"]:
        add(f"* {line}")
    add("")
    add("## Training data")
    add("")
    add(data["summary"])
    add("")
    out += _table(["package", "version", "licence (Debian copyright file)", "role", "voices",
                   "items"],
                  [(s["package"], s["version"], s["licence"], s["role"], s.get("voices"),
                    s.get("items")) for s in data["sources"]], [False] * 4 + [True, True])
    add("")
    add(data["licence_note"])
    add("")
    lab = data["labelled"]
    add(f"Labelled set: {lab['items']:,} items ({lab['clean']:,} clean), speaker-disjoint "
        f"splits: " + ", ".join(f"{k} {v:,}" for k, v in lab["splits"].items())
        + f" ({lab['speakers_per_split']['train']} / {lab['speakers_per_split']['dev']} / "
          f"{lab['speakers_per_split']['test']} speakers). Conditions (every split):")
    add("")
    out += _table(["family", "items", "what"],
                  [(f["family"], f["items"], f["what"]) for f in lab["families"]], [False, True])
    add("")
    add("Held out of training and development (test split only, reported apart as zero-shot): "
        + "; ".join(lab["holdout"]) + ".")
    add("")
    add("## Training")
    add("")
    tr = card["training"]
    add(tr["summary"])
    add("")
    out += _table(["recipe", "what it changes", "best dev LCC", "best epoch", "minutes"],
                  [(c["name"], c["what"], c["dev_lcc"], c["best_epoch"], c["minutes"])
                   for c in tr["candidates"]], [False, False, True, True, True])
    add("")
    add(f"Shipped: `{tr['chosen']}` (best dev LCC), trained in {tr['minutes']:.0f} min on "
        f"{tr['machine']}. Model: {cfg['model']['lstm_units']} BLSTM units per direction, "
        f"forget-gate bias {cfg['model']['forget_bias']:g}, dense ELU "
        f"{'-'.join(str(u) for u in cfg['model']['dense_units'])}, frame constraint "
        f"{'on' if cfg['model']['frame_constraint'] else 'off'}, "
        f"{'log' if cfg['model']['log_magnitude'] else 'linear'} STFT magnitude input.")
    add("")
    add("## Test results")
    add("")
    add(test["summary"])
    add("")
    out += _table(["family", "model", "n", "MSE", "LCC", "SRCC", "mean true", "mean predicted"],
                  [(r["family"], r["model"], r["n"], r["mse"], r["lcc"], r["srcc"], r["mean_true"],
                    r["mean_predicted"]) for r in test["rows"]], [False, False] + [True] * 6)
    add("")
    add("LCC of the network minus LCC of the ridge baseline, paired bootstrap 95 % interval "
        "(2,000 resamples of each row's utterances):")
    add("")
    out += _table(["family", "n", "difference", "95 % low", "95 % high"],
                  [(r["family"], r["n"], r["difference"], r["low"], r["high"])
                   for r in test["lcc_difference"]], [False] + [True] * 4)
    add("")
    for line in test.get("findings", []):
        add(f"* {line}")
    if test.get("findings"):
        add("")
    st = checks.get("stream")
    if st:
        add("## Streaming")
        add("")
        add(card["stream"]["summary"])
        add("")
        rows = card["stream"]["by_lookahead"]
        if "p99_abs" in rows[0]:
            out += _table(["look-ahead (frames / s)", "mean abs frame difference",
                           "99th percentile", "max", "max abs utterance-score difference"],
                          [(f"{r['lookahead_frames']} / {r['lookahead_frames'] * 0.016:.2f}",
                            r["mean_abs"], r["p99_abs"], r["max_abs"], r["max_abs_score"])
                           for r in rows], [False, True, True, True, True])
        else:  # cards written before the percentile was measured
            out += _table(["look-ahead (frames / s)", "max abs frame difference",
                           "mean abs frame difference"],
                          [(f"{r['lookahead_frames']} / {r['lookahead_frames'] * 0.016:.2f}",
                            r["max_abs"], r["mean_abs"]) for r in rows], [False, True, True])
        add("")
    if card.get("changes"):
        add("## Changes from the previous version")
        add("")
        for line in card["changes"]:
            add(f"* {line}")
        add("")
    add("## Rebuild")
    add("")
    add("From a clean clone (Debian or Ubuntu with `apt-get`, `dpkg-deb` and `ffmpeg`; "
        "network access to the Debian archive):")
    add("")
    add("```bash")
    for line in card["rebuild"]:
        add(line)
    add("```")
    add("")
    add(f"Export checks passed: TFLite vs SavedModel max abs difference "
        f"{checks['tflite']['max_abs_diff_vs_saved_model']['score']:.1e} (score) / "
        f"{checks['tflite']['max_abs_diff_vs_saved_model']['frame_scores']:.1e} (frames), "
        f"tolerance {checks['tflite']['tolerance']:g}"
        + (f"; float16 max score error {checks['tflite_float16']['max_abs_score_error']:.1e}"
           if "tflite_float16" in checks else "")
        + (f"; streaming TFLite vs SavedModel {st['max_abs_diff']['tflite_vs_saved_model']:.1e}"
           if st else "") + ".")
    add("")
    return "\n".join(out)
