"""The export stage of ``tools/ship_qualitynet.py``: measure the chosen run (speed at
one thread, streaming vs whole-file), collect the card's figures and export the
shipped version with ``MODEL.md`` rendered from its ``export.json``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
FAMILY_TEXT = {
    "clean": "the clean recording as it is",
    "noise": "one real or synthetic noise recording at one of -10 ... 25 dB SNR",
    "enhanced": "noise as above, then the classical Wiener enhancer",
    "codec": "a low-rate speech codec through ffmpeg: {codecs}",
    "bandlimit": "narrow-band telephone (300-3400 Hz via 8 kHz) or a 4-7 kHz low-pass",
    "clipping": "0.3-20 % of the samples flattened",
    "dropout": "3-30 % of 20 ms packets lost, in bursts",
    "reverb": "a synthetic room, RT60 0.2-1.0 s, DRR -2 ... 12 dB",
}

SPEED = r"""
import json, sys, time
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
from tfaudio.systems.qualitynet.tflite_runtime import TFLiteQualityScorer
folder, seconds = sys.argv[1], float(sys.argv[2])
x = np.load(sys.argv[3]).astype(np.float32)
def best(fn, n=5):
    fn(); out = []
    for _ in range(n):
        c = time.process_time(); fn(); out.append(time.process_time() - c)
    return 1000 * min(out) / seconds
sig = tf.saved_model.load(folder).signatures["serving_default"]
w = tf.constant(x[None])
res = {"SavedModel (TensorFlow)": best(lambda: sig(waveform=w))}
for name in ("model.tflite", "model_float16.tflite"):
    s = TFLiteQualityScorer(f"{folder}/{name}", num_threads=1)
    res[f"{name} (LiteRT)"] = best(lambda: s(x))
print(json.dumps({k: round(v, 2) for k, v in res.items()}))
"""


def _speech_clip(qset: Path, seconds: float) -> np.ndarray:
    """Clean test items joined to ``seconds`` of real speech (the speed benchmark's input)."""
    from tfaudio.audio import load_audio
    from tfaudio.systems.qualitynet.manifest import read_manifest

    df = read_manifest(qset / "test.csv")
    clean = df[df["family"] == "clean"]["path"].tolist() or df["path"].tolist()
    parts, n = [], 0
    for p in clean:
        x = load_audio(p, sample_rate=16000)
        parts.append(x)
        n += x.size
        if n >= seconds * 16000:
            break
    return np.concatenate(parts)[: int(seconds * 16000)]


def measure_speed(folder: Path, qset: Path, work: Path, seconds: float = 10.0) -> dict:
    clip = _speech_clip(qset, seconds)
    np.save(work / "speed_clip.npy", clip)
    env = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    import os

    out = subprocess.run([sys.executable, "-c", SPEED, str(folder), str(seconds),
                          str(work / "speed_clip.npy")], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


STREAM_LOOKAHEADS = (0, 64, 128, 256, 384, 512, 768)


def measure_stream(run: Path, qset: Path, lookaheads=STREAM_LOOKAHEADS, n_streams=12,
                   stream_seconds=30.0) -> list:
    """|streamed - whole-file| frame scores per look-ahead on long streams: shuffled test
    items joined into ``n_streams`` streams of at least ``stream_seconds`` each (quality
    changes within a stream, as in a call), steps of 64 frames, the stream's own peak (so
    only the look-ahead is measured). Mean, 99th percentile and max over all frames, and
    the largest utterance-score difference."""
    from tfaudio.audio import load_audio
    from tfaudio.systems.qualitynet import streaming as S
    from tfaudio.systems.qualitynet.manifest import read_manifest
    from tfaudio.systems.qualitynet.run import load_trained_model

    model, _ = load_trained_model(run)
    c = model.config
    df = read_manifest(qset / "test.csv").sample(frac=1.0, random_state=1)
    streams, cur = [], []
    for p in df["path"]:
        cur.append(load_audio(p, sample_rate=c.sample_rate))
        if sum(x.size for x in cur) >= stream_seconds * c.sample_rate:
            streams.append(np.concatenate(cur))
            cur = []
        if len(streams) >= n_streams:
            break
    wholes = [model(w[None])["frame_scores"].numpy()[0] for w in streams]
    step = S.keras_step(model)
    rows = []
    for la in lookaheads:
        diffs, score_diffs = [], []
        for w, whole in zip(streams, wholes):
            sc = S.StreamingScorer(step, c.lstm_units, lookahead=la, hop=S.DEFAULT_HOP,
                                   peak=float(np.max(np.abs(w))), chunk=c.lstm_chunk)
            q = S.stream_file_scores(sc, w)
            diffs.append(np.abs(q - whole))
            score_diffs.append(abs(float(q.mean()) - float(whole.mean())))
        d = np.concatenate(diffs)
        rows.append({"lookahead_frames": la, "max_abs": float(d.max()), "mean_abs": float(d.mean()),
                     "p99_abs": float(np.percentile(d, 99)), "max_abs_score": float(max(score_diffs)),
                     "streams": len(streams), "frames": int(d.size),
                     "seconds": round(sum(w.size for w in streams) / c.sample_rate, 1)})
    return rows


def stream_summary(rows: list) -> str:
    r = rows[0]
    return ("Streamed frame scores (`tfaudio-score --stream`, `model_stream.tflite`) against "
            f"whole-file scoring of the same audio: {r['streams']} streams of test items joined "
            f"end to end ({r['seconds'] / 60:.1f} minutes, {r['frames']} frames), steps of 64 "
            "frames, the stream's own peak. The stream's last step equals whole-file scoring "
            "exactly. The trained backward LSTM carries context over about 8-12 s, so frame "
            "scores converge only with that much look-ahead; the default look-ahead is "
            "512 frames (8.19 s).")


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def _sources(corpus: Path, labelled: pd.DataFrame) -> list:
    """One row per Debian package: its licences, its role and how much of the corpus it gave."""
    pk = pd.read_csv(corpus / "packages.csv").fillna("")
    src = pd.read_csv(corpus / "sources.csv").fillna("")
    noises = pd.read_csv(corpus / "noises.csv").fillna("")
    rows = []
    for _, r in pk.sort_values(["role", "package"]).iterrows():
        if r["role"] == "noise":
            mine = noises[noises["package"] == r["package"]]
            voices, items = None, int(len(mine))
        else:
            mine = src[src["package"] == r["package"]]
            voices, items = int(mine["speaker"].nunique()), int(len(mine))
        rows.append({"package": r["package"], "version": str(r["version"]),
                     "licence": r["licences"], "role": r["role"], "voices": voices,
                     "items": items})
    return rows


def build_card(work: Path, corpus: Path, qset: Path, selection: dict, metrics: dict,
               candidates: dict, plan: dict, speed: dict, stream_rows: list, version: int = 1) -> dict:
    from tfaudio.audio.degrade import CODECS

    all_df = pd.read_csv(qset / "all.csv")
    summary = json.loads((qset / "summary.json").read_text())
    speakers = pd.read_csv(corpus / "speakers.csv").fillna("")
    langs = sorted({lang.strip() for v in speakers["languages"]
                    for lang in str(v).replace(";", ",").split(",") if lang.strip()})
    seconds = pd.read_csv(corpus / "sources.csv")["seconds"].astype(float).sum()
    spk_split = all_df.groupby("split")["speaker"].nunique().to_dict()
    codecs = sorted({c.split(": ")[1] for c in summary["conditions"] if c.startswith("codec: ")}
                    - set(plan["holdout_codecs"]))
    fams = []
    for fam, n in summary["counts"].items():
        if fam.startswith("zero-shot"):
            continue
        text = FAMILY_TEXT[fam].format(codecs=", ".join(f"{c} ({CODECS[c].describe})" for c in codecs))
        fams.append({"family": fam, "items": int(n), "what": text})
    holdout = [f"codec {c} ({CODECS[c].describe}), {summary['counts'].get(f'zero-shot codec: {c}', 0)} "
               f"test items" for c in plan["holdout_codecs"]]
    holdout += [f"noise family {nf} ({', '.join(summary['noise_families'][nf])}), "
                f"{summary['counts'].get(f'zero-shot noise: {nf}', 0)} test items"
                for nf in plan["holdout_noises"]]

    net, base = metrics["by_family"], metrics["baseline"]["by_family"]
    overall, base_overall = metrics["all"], metrics["baseline"]["overall"]
    rows = []
    for fam in ["all"] + list(net):
        for model, table, allrow in (("Quality-Net", net, overall), ("ridge baseline", base, base_overall)):
            r = allrow if fam == "all" else table[fam]
            rows.append({"family": fam, "model": model, "n": int(r["n"]), "mse": r["mse"],
                         "lcc": r["lcc"], "srcc": r["srcc"], "mean_true": r["mean_true"],
                         "mean_predicted": r["mean_predicted"]})
    gap = [{"family": fam, "n": int(r["n"]), "difference": r["difference"], "low": r["95%_low"],
            "high": r["95%_high"]} for fam, r in metrics["lcc_difference"].items()]
    g_all = metrics["lcc_difference"]["all"]
    verdict = ("above 0: the network is better than the ridge baseline on this test set"
               if g_all["95%_low"] > 0 else
               "includes 0: the network is not shown better than the ridge baseline" if g_all["95%_high"] > 0
               else "below 0: the ridge baseline is better")
    n_test = int(overall["n"])
    findings = [f"Overall test LCC {overall['lcc']:.3f} (network) vs {base_overall['lcc']:.3f} "
                f"(ridge), difference {g_all['difference']:+.3f}, 95 % interval "
                f"[{g_all['95%_low']:+.3f}, {g_all['95%_high']:+.3f}] {verdict}."]
    clean = net.get("clean")
    if clean:
        findings.append(f"Clean test speech (labelled {clean['mean_true']:.2f}) is predicted "
                        f"{clean['mean_predicted']:.2f} on average by the network, "
                        f"{base['clean']['mean_predicted']:.2f} by the ridge.")
    better = [f for f, r in metrics["lcc_difference"].items() if f != "all" and r["95%_low"] > 0]
    worse = [f for f, r in metrics["lcc_difference"].items() if f != "all" and r["95%_high"] < 0]
    if better:
        findings.append("Families where the interval lies above 0: " + ", ".join(better) + ".")
    if worse:
        findings.append("Families where the ridge is better (interval below 0): " + ", ".join(worse) + ".")
    cand_rows = [{"name": n, "what": candidates[n][0], **{k: selection["candidates"][n][k]
                  for k in ("dev_lcc", "best_epoch", "minutes")}} for n in candidates]
    final = selection["final"]
    train_minutes = sum(v["minutes"] for k, v in selection["candidates"].items()
                        if k != selection["chosen"]) + final["minutes"]
    return {
        "title": f"Quality-Net v{version} — the Quality-Net that ships with tfaudio",
        "summary": ("Non-intrusive speech quality: a 16 kHz waveform in, an utterance score and "
                    "one score per 16 ms frame out, on the wide-band PESQ scale (about 1 = bad, "
                    "4.64 = clean), with no clean reference. The paper's Quality-Net (BLSTM, frame "
                    "constraint, forget-gate bias -3), trained by tfaudio on recordings of real "
                    f"people from Debian packages ({len(langs)} languages) under "
                    f"{len(fams) - 1} families of degradations."),
        "data": {
            "summary": (f"{len(speakers)} voices, {len(pd.read_csv(corpus / 'sources.csv')):,} "
                        f"clean items, {seconds / 3600:.2f} h of speech in {len(langs)} languages "
                        f"({', '.join(langs)}); every recording is a person (letters, words, "
                        "prompts, dialogue and voice packs of educational programs and games), "
                        "re-sampled to 16 kHz mono. Noises: real recordings from the same "
                        "archive in families, plus synthetic ones (white, pink, factory, engine, "
                        "street). Labels: wide-band PESQ (ITU-T P.862.2) of each degraded item "
                        "against its clean source, computed with the `pesq` package on the "
                        "16-bit files. Packages named asterisk-* and fillets-ng-data* are not "
                        "used (kept for independent evaluation)."),
            "sources": _sources(corpus, all_df),
            "licence_note": ("The weights are learnt from these recordings. Where a package is "
                             "GPL, the weights may be a work based on it: redistribute them "
                             "under terms compatible with the GPL-2+/GPL-3 licences listed. "
                             "Where a package is CC-BY-SA, give attribution and share alike. "
                             "The table lists each package's licence as its Debian copyright "
                             "file states it."),
            "labelled": {"items": int(len(all_df)), "clean": int(summary["counts"]["clean"]),
                         "splits": {k: int(v) for k, v in summary["splits"].items()},
                         "speakers_per_split": {k: int(spk_split.get(k, 0)) for k in ("train", "dev", "test")},
                         "families": fams, "holdout": holdout},
        },
        "training": {
            "summary": ((f"Candidate recipes, each trained {_epochs(selection['select_epochs'])} on "
                         "the training split and scored on the development split (best epoch by "
                         f"dev LCC); the best then trained on to {_epochs(final['epochs'])}.")
                        if len(candidates) > 1 else
                        (f"One recipe, trained {_epochs(final['epochs'])} on the training split, "
                         "the best epoch by dev LCC on the development split. "
                         + plan.get("selection_note", ""))).strip(),
            "candidates": cand_rows, "chosen": selection["chosen"],
            "minutes": float(train_minutes), "machine": f"{os.cpu_count()} CPU cores, no GPU",
        },
        "test": {
            "summary": (f"Test split: speakers never heard in training or development, n = "
                        f"{n_test} utterances; every row states its n. The ridge baseline is "
                        "ridge regression on 54 per-utterance spectral statistics, fitted on the "
                        "same training split (strength chosen on dev). Zero-shot rows hold "
                        "degradations no training item had. LCC / SRCC are undefined for clean "
                        "speech (one label); its mean prediction shows how close to the top it "
                        "scores."),
            "rows": rows, "lcc_difference": gap, "findings": findings,
        },
        "speed": {"note": "CPU time of the best of 5 runs on 10 s of real speech, TensorFlow "
                          "and LiteRT restricted to one thread", "ms_per_audio_second": speed},
        "stream": {"summary": stream_summary(stream_rows), "by_lookahead": stream_rows},
        "limits": [
            "The scale is wide-band PESQ (P.862.2, 16 kHz), an objective estimate of "
            "listening quality against a clean reference. PESQ is not MOS: it was built for "
            "telephone-band codecs and noise, it is known to be unreliable for some "
            "processing (e.g. strong reverberation, packet-loss concealment, music), and this "
            "model only estimates it.",
            f"Languages in training: {', '.join(langs)}. Other languages, children's voices "
            "and singing are untested.",
            "Speech of 1.5-8 s per item in training; longer files are scored in blocks "
            "(`tfaudio-score`) and shorter ones have few frames.",
            "The input is peak-normalised: level itself is not judged.",
            "Trained on isolated degradations, one per item; combined degradations (noisy "
            "and coded) are outside what it saw.",
        ] + ([f"Clean speech is under-scored: clean test items (labelled "
              f"{clean['mean_true']:.2f}) average {clean['mean_predicted']:.2f}, so a score near 3.5 "
              "can be clean speech of an unheard voice; rank recordings of one voice or "
              "channel rather than reading the score as absolute."] if clean else []),
        "changes": list(plan.get("changes", [])),
        "rebuild": ["pip install -e .",
                    plan.get("command", "python tools/ship_qualitynet.py --work /tmp/qn-ship")
                    + "   # corpus, labels, training, test tables, export into exported_models/"],
        "built": {"date": str(date.today())},
    }


def export_shipped(work: Path, corpus: Path, qset: Path, selection: dict, metrics: dict, out: Path,
                   version: int, candidates: dict, plan: dict) -> Path:
    from tfaudio.systems.qualitynet.export import export_qualitynet
    from tfaudio.systems.qualitynet.model_card import render

    run = work / "runs" / selection["chosen"]
    scratch = work / "scratch"
    from tfaudio.export.versions import latest_version

    trial = latest_version(scratch / "qualitynet") or export_qualitynet(
        run, base_dir=scratch, quantize=["float16"], manifest=qset / "dev.csv")
    speed = measure_speed(trial, qset, work)
    stream_rows = measure_stream(run, qset)
    card = build_card(work, corpus, qset, selection, metrics, candidates, plan, speed, stream_rows,
                      version)

    def finalize(tmp: Path, meta: dict) -> None:
        (tmp / "MODEL.md").write_text(render(meta), encoding="utf-8")

    return export_qualitynet(run, base_dir=out, version=version, quantize=["float16"],
                             manifest=qset / "dev.csv", extra_metadata={"card": card},
                             finalize=finalize)
