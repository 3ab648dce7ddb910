"""SED training: the paper's stages as tasks of the shared training loop.

=====================  ==========================================  ======================
run (``--stage``,      trains                                      data
``--adversarial``)
=====================  ==========================================  ======================
baseline               F, Ft                                       S, W
adv-whole / adv-time   F, Ft, D (gradient reversal)                S, W, U
tri / tri-adv-*        phase 1: F, F1, F2, Ft (+ D), eq. (8)       S, W, U
                       pseudo labels from F1 and F2 (agreement)
                       phase 2: F, Ft (+ D), from phase 1's best   S, W + W_psl, U_psl
=====================  ==========================================  ======================

L_y = L_frame + L_clip (BCE, each masked to the samples carrying that label) for
every trained head; L_d (BCE, real vs synthetic, per frame or per clip) reaches F
reversed and scaled by alpha through the gradient reversal layer (alpha ramps up over
training unless ``model.grl_schedule`` is "constant"); the summed loss
gets one Adam step. A run's best checkpoint (by clip-level macro average precision on
held-out weak clips) stores ``F``, ``Ft`` (and ``D``, ``F1``, ``F2``) for hand-over, evaluation and export.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import average_precision_score

from tfaudio.config import ConfigError, merge, to_dict, write_json_atomic
from tfaudio.data.pipeline import graph_fn
from tfaudio.datasets.dcase import write_missing
from tfaudio.systems.sed import model as M
from tfaudio.systems.sed.config import ADVERSARIAL, RUNS, STAGES, SEDConfig
from tfaudio.systems.sed.data import Part, SEDData, eval_batches, mixed_batches, pseudo_labels
from tfaudio.training import core, rundir

log = logging.getLogger(__name__)

EPS = 1e-7


def run_names(stage: str, adversarial: Optional[str]) -> List[str]:
    """The runs a ``--stage`` / ``--adversarial`` pair trains."""
    if stage not in STAGES:
        raise ConfigError(f"--stage {stage!r}: choose one of {', '.join(STAGES)}")
    if adversarial is not None and adversarial not in ADVERSARIAL:
        raise ConfigError(f"--adversarial {adversarial!r}: choose one of {', '.join(ADVERSARIAL)}")
    if stage == "all":
        return list(RUNS)
    if stage == "baseline":
        return ["baseline"] if adversarial in (None, "none") else [f"adv-{adversarial}"]
    if stage == "adversarial":
        if adversarial == "none":
            raise ConfigError("--stage adversarial needs --adversarial whole or time")
        return [f"adv-{adversarial or 'time'}"]
    return ["tri"] if adversarial in (None, "none") else [f"tri-adv-{adversarial}"]


def adversarial_of(run: str) -> str:
    return run.rsplit("-", 1)[1] if "adv-" in run else "none"


def _bce(p, y):
    p = tf.clip_by_value(p, EPS, 1 - EPS)
    return -(y * tf.math.log(p) + (1 - y) * tf.math.log(1 - p))


def masked_loss(prob, target, mask) -> tf.Tensor:
    """Mean BCE over the labelled elements of the global batch only (0 when it holds
    none), this replica's share of it (:func:`core.replica_loss` with the mask as
    weights: the labelled count is summed over replicas before dividing)."""
    return core.replica_loss(_bce(prob, target), weights=mask)


def domain_loss(logits, domain) -> tf.Tensor:
    if len(logits.shape) == 2:  # per frame
        domain = tf.broadcast_to(domain[:, None], tf.shape(logits))
    ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=domain, logits=logits)
    return core.replica_loss(ce)


def clip_map(clip_probs: np.ndarray, targets: np.ndarray) -> float:
    """Clip-level macro average precision (scikit-learn) over the classes present in
    ``targets``: threshold-free, so it ranks checkpoints before any clip crosses 0.5."""
    present = targets.sum(0) > 0
    if len(targets) == 0 or not present.any():
        return float("nan")
    return float(average_precision_score(targets[:, present], clip_probs[:, present], average="macro"))


class SEDTask(core.Task):
    """One of the training configurations: which heads, whether D, which init."""

    monitor = "dev_clip_map"
    monitor_mode = "max"

    steps_per_epoch: int = 1
    total_steps: int = 1

    def __init__(self, cfg: SEDConfig, frames: int, mels: int, band_stats, heads: Sequence[str] = ("t",),
                 adversarial: str = "none", diversity: bool = False, init_from: Optional[Path] = None):
        self.cfg, self.frames, self.mels, self.band_stats = cfg, frames, mels, band_stats
        self.heads, self.adversarial, self.use_diversity, self.init_from = tuple(heads), adversarial, diversity, init_from

    def build(self):
        cfg = self.cfg
        self.parts = M.build_parts(cfg.model, self.frames, self.mels, self.heads, self.adversarial)
        M.set_band_stats(self.parts["F"], *self.band_stats)
        if self.init_from is not None:  # phase 2: F, Ft (and D) from phase 1
            core.restore_best(self.init_from, {k: v for k, v in self.parts.items()})
        self.variables = [v for p in self.parts.values() for v in p.trainable_variables]
        t = cfg.train
        self.optimizer = keras.optimizers.Adam(t.learning_rate, beta_1=t.beta_1, beta_2=t.beta_2)
        self.optimizer.build(self.variables)
        self.detector = M.Detector(self.parts["F"], self.parts["Ft"])
        self._predict = graph_fn(self.detector)

    def checkpoint_items(self):
        return {**self.parts, "optimizer": self.optimizer}

    def best_items(self):
        return dict(self.parts)

    def losses(self, batch, training: bool = True) -> Dict[str, tf.Tensor]:
        h = self.parts["F"](batch["features"], training=training)
        out: Dict[str, tf.Tensor] = {}
        total = 0.0
        for name in self.heads:
            pred = self.parts[f"F{name}"](h, training=training)
            lf = masked_loss(pred["frame"], batch["frame_target"], batch["frame_mask"])
            lc = masked_loss(pred["clip"], batch["clip_target"], batch["clip_mask"])
            out[f"F{name}_frame"], out[f"F{name}_clip"] = lf, lc
            total += lf + lc
        if self.use_diversity:
            out["diversity"] = M.diversity(self.parts["F1"].first, self.parts["F2"].first)
            # a term of the weights alone: every replica has it whole, the sum must not
            total += self.cfg.train.diversity_weight * out["diversity"] / core.replica_count()
        if self.adversarial != "none":
            out["domain"] = domain_loss(self.parts["D"](h, training=training), batch["domain"])
            total += self.cfg.train.domain_weight * out["domain"]
        out["loss"] = total
        return out

    def grl_alpha(self) -> tf.Tensor:
        """The reversal coefficient at this step: a function of (epoch, step) only."""
        m = self.cfg.model
        if m.grl_schedule == "constant":
            return tf.constant(m.grl_alpha, tf.float32)
        if m.grl_schedule != "ramp":
            raise ConfigError(f"model.grl_schedule {m.grl_schedule!r}: use 'ramp' or 'constant'")
        done = tf.cast(self.epoch_counter * self.steps_per_epoch + self.step_counter, tf.float32)
        p = tf.minimum(done / float(max(self.total_steps, 1)), 1.0)
        return m.grl_alpha * (2.0 / (1.0 + tf.exp(-10.0 * p)) - 1.0)

    def train_step(self, batch):
        if self.adversarial != "none":
            self.parts["D"].grl.alpha_variable.assign(self.grl_alpha())
        with tf.GradientTape() as tape:
            out = self.losses(batch)
        grads = tape.gradient(out["loss"], self.variables)
        self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, self.variables) if g is not None])
        # The terms are replica shares of global means; the loop averages over replicas.
        n = core.replica_count()
        return {k: v if k == "diversity" else v * n for k, v in out.items()}

    def predict(self, part: Part) -> Dict[str, np.ndarray]:
        frames, clips = [], []
        for b in eval_batches(part, self.cfg.train.batch_size):
            o = self._predict(b["features"])
            frames.append(o["frame"].numpy())
            clips.append(o["clip"].numpy())
        return {"frame": np.concatenate(frames), "clip": np.concatenate(clips)}

    def evaluate(self, dataset: Part):
        p = self.predict(dataset)
        return {"dev_clip_map": clip_map(p["clip"], dataset.arrays["clip_target"])}


def predict_heads(parts: Dict[str, keras.Model], part: Part, names: Sequence[str], batch_size: int):
    # one trace per feature extractor and head set: a fixed signature, reused on every batch
    spec = tf.TensorSpec([None, *part.arrays["features"].shape[1:]], tf.float32)
    fn = graph_fn(parts["F"], lambda x: {n: parts[n](parts["F"](x, training=False), training=False)
                                         for n in names},
                  input_signature=[spec], name=f"heads{tuple(names)}{tuple(spec.shape[1:])}")
    out = {n: {"frame": [], "clip": []} for n in names}
    for b in eval_batches(part, batch_size):
        res = fn(b["features"])
        for n in names:
            for k in ("frame", "clip"):
                out[n][k].append(res[n][k].numpy())
    return {n: {k: np.concatenate(v) for k, v in d.items()} for n, d in out.items()}


def pseudo_label_part(part: Part, p1: Dict[str, np.ndarray], p2: Dict[str, np.ndarray], cfg: SEDConfig,
                      weak: bool) -> Part:
    """``part`` with pseudo labels (Algorithm 1). A weakly labelled clip keeps its clip
    labels; its frame labels are the agreed ones, and 0 (labelled) for every class
    its weak label excludes."""
    thr, margin = cfg.train.pseudo_threshold, cfg.train.pseudo_margin
    frame_t, frame_m = pseudo_labels(p1["frame"], p2["frame"], thr, margin)
    a = dict(part.arrays)
    if weak:
        present = a["clip_target"][:, None, :]
        frame_t = frame_t * present
        frame_m = np.maximum(frame_m, 1.0 - present)
    else:
        a["clip_target"], a["clip_mask"] = pseudo_labels(p1["clip"], p2["clip"], thr, margin)
    a["frame_target"], a["frame_mask"] = frame_t.astype(np.float32), frame_m.astype(np.float32)
    return Part(f"{part.name}_psl", part.files, a, part.events)


def _fit(task, train_parts, weights, dev, stage_dir, cfg: SEDConfig, run: str, resume, progress):
    t = cfg.train
    n_labelled = sum(len(p) for p in train_parts[:2])
    steps = t.steps_per_epoch or max(1, n_labelled // t.batch_size)
    task.steps_per_epoch, task.total_steps = steps, steps * t.epochs
    return core.fit(task, mixed_batches(train_parts, weights, t.batch_size, t.seed), dev, stage_dir,
                    epochs=t.epochs, config={"system": "sed", "run": run, **to_dict(cfg)}, resume=resume,
                    strategy=core.make_strategy(t.strategy), seed=t.seed, progress=progress,
                    steps_per_epoch=steps)


def train_run(cfg: SEDConfig, run: str, run_dir, data: SEDData, resume: bool = False, progress: bool = True,
              say=print) -> Dict[str, core.FitResult]:
    """Train one run (``baseline``, ``adv-time``, ``tri-adv-time`` ...) into ``run_dir/<run>``."""
    run_dir = Path(run_dir)
    sets = data.sets()
    stats = data.band_stats([sets["S"], sets["W"], sets["U"]])
    adv = adversarial_of(run)
    mix = cfg.train.mix
    frames, mels = data.num_frames, data.mels
    results = {}
    if not run.startswith("tri"):
        if core.stage_complete(run_dir / run):
            say(f"[{run}] already trained in {run_dir / run}; use another --run-dir to train it again")
            return results
        parts = [sets["S"], sets["W"]] + ([sets["U"]] if adv != "none" else [])
        task = SEDTask(cfg, frames, mels, stats, ("t",), adv)
        results[run] = _fit(task, parts, mix, sets["dev"], run_dir / run, cfg, run, resume, progress)
        return results
    phase1 = run_dir / f"{run}-phase1"
    if not core.stage_complete(phase1):
        task = SEDTask(cfg, frames, mels, stats, ("1", "2", "t"), adv, diversity=True)
        results[phase1.name] = _fit(task, [sets["S"], sets["W"], sets["U"]], mix, sets["dev"], phase1, cfg,
                                    phase1.name, resume, progress)
    if core.stage_complete(run_dir / run):
        say(f"[{run}] already trained in {run_dir / run}; use another --run-dir to train it again")
        return results
    parts = M.build_parts(cfg.model, frames, mels, ("1", "2", "t"), adv)
    core.restore_best(phase1, parts)
    pw = predict_heads(parts, sets["W"], ("F1", "F2"), cfg.train.batch_size)
    pu = predict_heads(parts, sets["U"], ("F1", "F2"), cfg.train.batch_size)
    W_psl = pseudo_label_part(sets["W"], pw["F1"], pw["F2"], cfg, weak=True)
    U_psl = pseudo_label_part(sets["U"], pu["F1"], pu["F2"], cfg, weak=False)
    summary = {"W_frame_labelled": float(W_psl.arrays["frame_mask"].mean()) if len(W_psl) else 0.0,
               "U_frame_labelled": float(U_psl.arrays["frame_mask"].mean()) if len(U_psl) else 0.0,
               "U_clip_labelled": float(U_psl.arrays["clip_mask"].mean()) if len(U_psl) else 0.0,
               "U_clip_positive": float(U_psl.arrays["clip_target"].sum()) if len(U_psl) else 0.0}
    (run_dir / run).mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / run / "pseudo_labels.json", summary)
    say(f"[{run}] pseudo labels: {summary}")
    task = SEDTask(cfg, frames, mels, stats, ("t",), adv, init_from=phase1)
    results[run] = _fit(task, [sets["S"], W_psl, U_psl], mix, sets["dev"], run_dir / run, cfg, run, resume, progress)
    return results


def train(cfg: SEDConfig, stage: str, adversarial: Optional[str], run_dir, resume: bool = False,
          progress: bool = True, say=print) -> Dict[str, core.FitResult]:
    run_dir = Path(run_dir)
    runs = run_names(stage, adversarial)
    data = SEDData(cfg, progress=progress)
    cfg = merge(cfg, {"model": {"num_classes": len(data.classes)}})
    check_run_config(run_dir, cfg, data.classes)
    sets = data.sets()
    write_missing(run_dir / "skipped_files.tsv", data.skipped)
    say(f"data: {data.root} | S {len(sets['S'])}, W {len(sets['W'])}, U {len(sets['U'])}, dev {len(sets['dev'])}, "
        f"validation {len(sets['validation'])} clips; {len(data.skipped)} listed file(s) missing, unreadable or with bad labels "
        f"(see {run_dir / 'skipped_files.tsv'})")
    results = {}
    for run in runs:
        results.update(train_run(cfg, run, run_dir, data, resume, progress, say))
        if run in results:
            say(f"[{run}] done: best dev clip mAP {results[run].best_metric:.4f} at epoch {results[run].best_epoch}")
    return results


RUN_INVARIANTS = ("frontend", "model")


def check_run_config(run_dir: Path, cfg: SEDConfig, classes) -> None:
    """``run_dir/config.json`` is written once; every run of a directory shares front-end, model and classes."""
    rundir.record_config(run_dir, "sed", {"classes": list(classes), **to_dict(cfg)}, RUN_INVARIANTS + ("classes",),
                         what="runs")
