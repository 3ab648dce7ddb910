"""Export a base model: waveform in, frame posteriors (and utterance emotions) out.

SavedModel ``serving_default``: ``waveform`` float32 ``[batch, samples]`` at 16 kHz
(any length of at least one 25 ms frame) -> ``frame_posteriors [batch, frames,
classes]`` (log-mels, 31-frame windows clamped at the edges, the ConvNet; all in the
graph) and for SER ``utterance_probabilities [batch, 4]`` (the share of non-silent
frames voting for each emotion; the mean posterior when every frame is silent).

Assets: ``classes.txt`` (one per output, in order); ASR also ``phones.txt`` (the 48
phones), ``phones39.txt`` (48 -> 39 map, one ``p48 p39`` pair a line),
``decoder.npz`` (state priors, bigram LM, transition probabilities) and
``decoder.json`` (acoustic scale and insertion penalty tuned on dev), which
``tfaudio-recognize`` uses. TFLite (builtin ops only): the same function with a
dynamic ``[1, samples]`` input, checked against the SavedModel.
"""
from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Optional

import numpy as np
import tensorflow as tf

from tfaudio.atomic import write_bytes
from tfaudio.config import to_dict
from tfaudio.datasets.timit import MAP_48_TO_39, PHONES_48
from tfaudio.errors import ExportError
from tfaudio.export.core import check_signals, convert_tflite, export_version, run_tflite
from tfaudio.systems.transfer import data as D
from tfaudio.systems.transfer import model as M
from tfaudio.systems.transfer import run as R
from tfaudio.systems.transfer.data import Corpora

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-4


class TransferServing(tf.Module):
    def __init__(self, frontend, model: M.AcousticModel, context: int, task: str):
        super().__init__()
        self.frontend, self.model, self.context, self.task = frontend, model, int(context), task

    def outputs(self, waveform):
        post = M.frame_posteriors(self.frontend, self.model, waveform, self.context)
        out = {"frame_posteriors": post}
        if self.task == "ser":
            out["utterance_probabilities"] = M.utterance_emotions(post, D.SILENCE)
        return out

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveform")])
    def serve(self, waveform):
        return self.outputs(waveform)

    def tflite_bytes(self) -> bytes:
        spec = tf.TensorSpec([1, None], tf.float32, name="waveform")
        return convert_tflite(self.outputs, [spec], track=[self.frontend, self.model])


def stage_of(cfg, task: str, fold: Optional[int]) -> str:
    if task == "asr":
        return R.stage_name("asr", None)
    return R.stage_name("ser", cfg.data.ser_base_fold if fold is None else fold)


def load_model(run_dir, task: str = "asr", fold: Optional[int] = None):
    """``(acoustic model, config)`` of a trained base model (SER: fold ``fold``,
    default ``data.ser_base_fold``)."""
    cfg = R.load_run_config(run_dir)
    return R.load_stage_model(run_dir, cfg, task, stage_of(cfg, task, fold)), cfg


def export_transfer(run_dir, task: str = "asr", fold: Optional[int] = None, base_dir="exported_models",
                    version: Optional[int] = None, tflite: bool = True) -> Path:
    run_dir = Path(run_dir)
    model, cfg = load_model(run_dir, task, fold)
    stage = stage_of(cfg, task, fold)
    serving = TransferServing(M.make_frontend(cfg.frontend), model, cfg.data.context, task)
    classes = D.ASR_CLASSES if task == "asr" else D.SER_CLASSES
    results = json.loads((run_dir / stage / "results.json").read_text()) \
        if (run_dir / stage / "results.json").exists() else {}
    assets = {"classes.txt": "\n".join(classes) + "\n"}
    decoder_arrays = None
    if task == "asr":
        corpora = Corpora(cfg, progress=False, skip_bad=True)  # as the run was trained
        decoder_arrays = corpora.decoder().arrays()
        assets["phones.txt"] = "\n".join(PHONES_48) + "\n"
        assets["phones39.txt"] = "".join(f"{p} {MAP_48_TO_39[p]}\n" for p in PHONES_48)
        assets["decoder.json"] = json.dumps({"acoustic_scale": results.get("acoustic_scale", 1.0),
                                             "insertion_penalty": results.get("insertion_penalty", 0.0)}) + "\n"

    def write_saved_model(tmp: Path):
        tf.saved_model.save(serving, str(tmp), signatures={"serving_default": serving.serve})
        if decoder_arrays is not None:
            buf = io.BytesIO()
            np.savez(buf, **decoder_arrays)
            write_bytes(tmp / "assets" / "decoder.npz", buf.getvalue())

    def write_tflite(tmp: Path, path: Path):
        write_bytes(path, serving.tflite_bytes())

    def verify(tmp: Path) -> dict:
        return verify_export(tmp, cfg.frontend.sample_rate, len(classes), task, tflite)

    meta = {"model": f"transfer-{task}", "stage": stage, "run_dir": str(run_dir.resolve()),
            "sample_rate": cfg.frontend.sample_rate, "frame_step_seconds": cfg.frontend.frame_step / cfg.frontend.sample_rate,
            "classes": list(classes), "results": results, "config": to_dict(cfg)}
    return export_version(base_dir, f"transfer-{task}", write_saved_model, write_tflite if tflite else None, verify,
                          assets=assets, metadata=meta, version=version)


def verify_export(export_dir: Path, sample_rate: int, num_classes: int, task: str, tflite: bool) -> dict:
    """Reload; silence, noise and a tone give finite posteriors that sum to one; the
    TFLite twin matches on each (and on a second length, so resizing works)."""
    fn = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    inputs = dict(check_signals(sample_rate, 1.0))
    inputs["short_noise"] = (0.1 * np.random.default_rng(1).standard_normal((1, int(0.37 * sample_rate)))).astype(np.float32)
    checks, worst = {}, 0.0
    for name, x in inputs.items():
        out = {k: v.numpy() for k, v in fn(waveform=tf.constant(x)).items()}
        post = out["frame_posteriors"]
        ok = (np.all(np.isfinite(post)) and post.shape[-1] == num_classes
              and np.allclose(post.sum(-1), 1.0, atol=1e-4))
        if task == "ser":
            up = out["utterance_probabilities"]
            ok = ok and up.shape == (1, num_classes - 1) and np.allclose(up.sum(-1), 1.0, atol=1e-4)
        if not ok:
            raise ExportError(f"{export_dir}: SavedModel gives ill-formed output on {name}")
        entry = {"frames": int(post.shape[1])}
        if tflite:
            lite = run_tflite(export_dir / "model.tflite", {"waveform": x})
            diff = max(float(np.abs(lite[k] - out[k]).max()) for k in out)
            worst = max(worst, diff)
            if not diff <= PARITY_TOLERANCE:
                raise ExportError(f"{export_dir}: TFLite differs from the SavedModel by {diff:.2e} on {name}")
            entry["tflite_max_abs_diff"] = diff
        checks[name] = entry
    two = fn(waveform=tf.zeros([2, sample_rate // 2]))["frame_posteriors"]
    if two.shape[0] != 2:
        raise ExportError(f"{export_dir}: wrong output shape {two.shape} for a batch of two")
    return {"inputs": checks, "tflite_max_abs_diff": worst if tflite else None}


def serving_functions(recipe: str = "transfer/embedded") -> dict:
    """``{model name: {signature: concrete function}}`` of both base-model exports of
    ``recipe``, with untrained weights (the README's signature table: names, dtypes,
    shapes)."""
    from tfaudio.config import from_dict, load_recipe
    from tfaudio.systems.transfer.config import TransferConfig

    cfg = from_dict(TransferConfig, load_recipe(recipe), where=recipe)
    out = {}
    for task in ("asr", "ser"):
        model = R.build_model(cfg, task)
        model(tf.zeros([1, 2 * cfg.data.context + 1, cfg.frontend.num_mel_bins]))
        serving = TransferServing(M.make_frontend(cfg.frontend), model, cfg.data.context, task)
        out[f"transfer-{task}"] = {"serving_default": serving.serve.get_concrete_function()}
    return out
