"""Building a PESQ-labelled quality set from clean speech and noise recordings.

:func:`make_quality_set` turns a folder of clean speech (TIMIT layout works as is)
and a folder of noise recordings into labelled items, each under one condition
(:mod:`tfaudio.systems.qualitynet.conditions`: the paper's clean / noisy / enhanced,
or the families plan with codecs, band limits, clipping, dropouts and reverberation),
labelled with PESQ (:mod:`tfaudio.systems.qualitynet.pesq_label`), split
speaker-disjointly into train / dev / test manifests
(:mod:`tfaudio.systems.qualitynet.manifest`). Work runs in parallel processes, is
deterministic given the seed and resumable (finished items are never recomputed).
"""
from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import re
import sys
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from tfaudio.atomic import write_text
from tfaudio.audio.files import find_audio_files, strip_audio_ext
from tfaudio.audio.io import AUDIO_EXTENSIONS, AudioError, audio_info, load_audio, write_audio
from tfaudio.data.splits import assign_splits
from tfaudio.systems.qualitynet import conditions as C
from tfaudio.systems.qualitynet import pesq_label as P
from tfaudio.systems.qualitynet.manifest import write_manifest
from tfaudio.systems.qualitynet.pesq_label import PesqLabelError, QualitySetError, SILENCE_PEAK

log = logging.getLogger(__name__)

#: Columns of the manifests written by :func:`make_quality_set` (all.csv adds ``split``).
MANIFEST_COLUMNS = ["path", "score", "condition", "speaker", "noise", "snr", "source"]
#: Added by the families plan: table group, human-readable settings, held-out flag.
FAMILY_COLUMNS = ["family", "detail", "zero_shot"]
CONDITIONS = ("clean", "noisy", "enhanced")
SPLITS = ("train", "dev", "test")
#: Paper: 250 of the 4620 TIMIT training utterances were kept clean.
PAPER_CLEAN_FRACTION = 250 / 4620
#: Shortest utterance accepted (PESQ itself needs at least 0.25 s).
MIN_SECONDS = 0.3
#: Bump when the per-item computation changes, so resumed runs recompute.
ITEM_FORMAT = "qitem-1"


def speaker_of(path, root) -> str:
    """Speaker = name of the file's folder (TIMIT: ``.../DR1/FCJF0/SA1.WAV`` ->
    ``FCJF0``); ``""`` (unknown) for files directly inside ``root``."""
    rel = Path(path).relative_to(root)
    return rel.parent.name if len(rel.parts) > 1 else ""


def utterance_id(path, root) -> str:
    """File-system-safe ID from the path relative to ``root`` (audio extensions
    stripped, so ``SA1.WAV`` and ``SA1.WAV.wav`` give the same ID)."""
    rel = Path(path).relative_to(root)
    parts = list(rel.parts[:-1]) + [strip_audio_ext(rel.name)]
    uid = "_".join(parts)
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", uid).strip("_") or "utt"


# ==================================================================================
# Per-item work (runs in worker processes)
# ==================================================================================
_WORKER_NOISES: Dict[str, np.ndarray] = {}


def _init_worker(noises: Dict[str, np.ndarray]) -> None:
    global _WORKER_NOISES
    _WORKER_NOISES = noises


def _atomic_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def _item_key(spec: dict, cfg: dict) -> dict:
    key = {k: spec[k] for k in ("utt_id", "source_rel", "source_size", "condition",
                                "noise", "snr", "noise_offset")}
    key.update(format=ITEM_FORMAT, sample_rate=cfg["sample_rate"], band=cfg["band"],
               noise_len=spec.get("noise_len"), noise_crc=spec.get("noise_crc"))
    if spec.get("params"):
        key["params"] = spec["params"]
    extras = C.key_extras(spec)
    if extras:
        key.update(extras)
    if spec["condition"].split(":")[0] == "enhanced":
        key["enhancer"] = cfg["enhancer"]
    return key


def _process_item(spec: dict, cfg: dict) -> dict:
    """Make, write and label one item; returns its record (also written as JSON)."""
    out_dir = Path(cfg["out_dir"])
    sr = cfg["sample_rate"]
    rec = {"key": _item_key(spec, cfg), "utt_id": spec["utt_id"], "index": spec["index"],
           "source": spec["source"], "speaker": spec["speaker"],
           "condition": spec["condition"], "noise": spec["noise"], "snr": spec["snr"],
           "path": spec["out_rel"], "status": "ok", "reason": "", "score": None,
           "orig_sr": None}
    for k in ("family", "detail", "zero_shot", "split"):
        if k in spec:
            rec[k] = spec[k]
    wav = out_dir / spec["out_rel"]
    try:
        try:
            rec["orig_sr"] = int(audio_info(spec["source"]).samplerate)
            clean = load_audio(spec["source"], sample_rate=sr, mono=True)
        except AudioError as exc:
            raise PesqLabelError(exc.reason) from exc
        dur = clean.shape[0] / sr
        if dur < MIN_SECONDS:
            raise PesqLabelError(f"too short ({dur:.2f} s < {MIN_SECONDS} s)")
        if float(np.max(np.abs(clean))) < SILENCE_PEAK:
            raise PesqLabelError("silent (peak below -80 dBFS)")
        deg = C.apply_condition(clean, sr, spec, _WORKER_NOISES)
        peak = float(np.max(np.abs(deg)))
        if peak > 0.99:  # avoid clipping in the 16-bit file; PESQ is level-aligned
            deg = deg * (0.99 / peak)
        write_audio(str(wav), deg, sr, subtype="PCM_16")
        # Label exactly what was written (16-bit quantised), as a user would read it.
        written = load_audio(str(wav), sample_rate=sr, mono=True)
        rec["score"] = P.pesq_label(clean, written, sr, cfg["band"])
    except PesqLabelError as exc:
        rec.update(status="skipped", reason=exc.reason, score=None)
    except Exception as exc:  # keep going; the summary and the log show it
        rec.update(status="skipped", reason=f"unexpected error: {type(exc).__name__}: {exc}",
                   score=None)
    if rec["status"] != "ok" and wav.exists():
        wav.unlink()
    _atomic_json(out_dir / "items" / f"{spec['utt_id']}.json", rec)
    return rec


def _load_finished(spec: dict, cfg: dict) -> Optional[dict]:
    p = Path(cfg["out_dir"]) / "items" / f"{spec['utt_id']}.json"
    if not p.is_file():
        return None
    try:
        rec = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if rec.get("key") != json.loads(json.dumps(_item_key(spec, cfg))):
        return None
    if rec.get("status") == "ok":
        if not (Path(cfg["out_dir"]) / rec["path"]).is_file():
            return None
        if not isinstance(rec.get("score"), (int, float)) or not math.isfinite(rec["score"]):
            return None
    rec["source"] = spec["source"]  # the tree may have moved; the key still matched
    return rec


# ==================================================================================
# The builder
# ==================================================================================
@dataclass
class QualitySetResult:
    """What :func:`make_quality_set` did. ``manifests`` maps train/dev/test/all to
    CSV paths; ``skipped`` lists ``(source, reason)``."""

    out_dir: Path
    manifests: Dict[str, Path]
    counts: Dict[str, int]
    split_counts: Dict[str, int]
    computed: int
    reused: int
    skipped: List[Tuple[str, str]] = field(default_factory=list)
    score_stats: Dict[str, Dict[str, float]] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"quality set in {self.out_dir}: {sum(self.counts.values())} labelled "
                 f"utterances ({', '.join(f'{k} {v}' for k, v in self.counts.items())}); "
                 f"splits {', '.join(f'{k} {v}' for k, v in self.split_counts.items())}; "
                 f"computed {self.computed}, reused {self.reused}, "
                 f"skipped {len(self.skipped)}"]
        width = max([9] + [len(c) for c in self.score_stats])
        for cond, st in self.score_stats.items():
            lines.append(f"  PESQ {cond:{width}s} n={st['n']:4d} min {st['min']:.2f}  "
                         f"p10 {st['p10']:.2f}  median {st['median']:.2f}  "
                         f"p90 {st['p90']:.2f}  max {st['max']:.2f}  mean {st['mean']:.2f}")
        if self.skipped:
            reasons = Counter(_reason_kind(r) for _, r in self.skipped)
            lines.append("  skipped: " + "; ".join(f"{n} x {r}" for r, n in reasons.most_common()))
        return "\n".join(lines)


def _reason_kind(reason: str) -> str:
    return re.sub(r"\(.*\)", "(...)", reason).strip()


def _tag(text: str) -> str:
    """File-name-safe form of a condition's settings (``"opus 12k"`` -> ``opus_12k``)."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")


def _snr_tag(snr: float) -> str:
    return f"{snr:g}dB".replace("-", "m") if snr < 0 else f"{snr:g}dB"


def _load_noises(noise_dir: Path, sample_rate: int) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """``({name: wave}, {name: family})``: family = the file's first sub-folder under
    ``noise_dir``, or its own name for files at the top."""
    files = find_audio_files(noise_dir)
    if not files:
        raise QualitySetError(f"no audio files found in noise folder {noise_dir}")
    stems = Counter(strip_audio_ext(f.name) for f in files)
    noises: Dict[str, np.ndarray] = {}
    family: Dict[str, str] = {}
    resampled: Counter = Counter()
    for f in files:
        name = strip_audio_ext(f.name)
        if stems[name] > 1:  # same stem in several sub-folders: use the relative path
            name = utterance_id(f, noise_dir)
        try:
            sr = audio_info(f).samplerate
            x = load_audio(f, sample_rate=sample_rate, mono=True)
        except AudioError as exc:
            log.warning("skipping noise file %s: %s", f, exc.reason)
            continue
        if float(np.max(np.abs(x))) < SILENCE_PEAK:
            log.warning("skipping noise file %s: silent", f)
            continue
        if sr != sample_rate:
            resampled[sr] += 1
        noises[name] = x
        rel = f.relative_to(noise_dir).parts
        family[name] = rel[0] if len(rel) > 1 else name
    if resampled:
        log.info("resampled %d noise file(s) to %d Hz (original rates: %s)",
                 sum(resampled.values()), sample_rate,
                 ", ".join(f"{r} Hz x{n}" for r, n in sorted(resampled.items())))
    if not noises:
        raise QualitySetError(f"no usable noise recordings in {noise_dir}")
    return noises, family


def _discover(clean_abs: Path, exclude) -> List[Tuple[str, Path]]:
    files = find_audio_files(clean_abs, exclude=exclude)
    if not files:
        raise QualitySetError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) found in "
                              f"{clean_abs}")
    by_id: Dict[str, Path] = {}
    dupes = 0
    for f in files:
        uid = utterance_id(f, clean_abs)
        if uid in by_id:
            dupes += 1
            log.debug("ignoring %s: same utterance as %s", f, by_id[uid])
            continue
        by_id[uid] = f
    if dupes:
        log.info("ignored %d duplicate copies (e.g. SA1.WAV next to SA1.WAV.wav)", dupes)
    return sorted(by_id.items(), key=lambda kv: kv[1].relative_to(clean_abs).as_posix())


def _check_options(clean_fraction, enhanced_fraction, per_source, plan):
    if not 0.0 <= clean_fraction <= 1.0:
        raise QualitySetError(f"clean_fraction must be within [0, 1], got {clean_fraction}")
    if per_source < 1:
        raise QualitySetError(f"per_source must be >= 1, got {per_source}")
    if plan is None:
        if enhanced_fraction is None:
            enhanced_fraction = (1.0 - clean_fraction) / 2.0
        if not 0.0 <= enhanced_fraction <= 1.0 or clean_fraction + enhanced_fraction > 1.0 + 1e-9:
            raise QualitySetError("enhanced_fraction must be within [0, 1] and "
                                  "clean_fraction + enhanced_fraction <= 1, got "
                                  f"{clean_fraction} + {enhanced_fraction}")
        if per_source != 1:
            raise QualitySetError("per_source > 1 needs the condition families plan (mix)")
    elif enhanced_fraction is not None:
        raise QualitySetError("enhanced_fraction is for the classic plan; with a mix, weigh "
                              "the 'enhanced' family instead")
    elif clean_fraction * per_source > 1.0 + 1e-9:
        raise QualitySetError(f"clean_fraction {clean_fraction} with {per_source} items per "
                              f"source needs more clean items than there are sources")
    return enhanced_fraction


def make_quality_set(
    clean_dir,
    noise_dir,
    out_dir,
    snrs: Sequence[float] = C.PAPER_SNRS,
    sample_rate: int = 16000,
    clean_fraction: float = PAPER_CLEAN_FRACTION,
    enhanced_fraction: Optional[float] = None,
    seed: int = 0,
    splits: Sequence[float] = (0.8, 0.1, 0.1),
    workers: Optional[int] = None,
    band: str = "auto",
    max_utterances: Optional[int] = None,
    progress: bool = True,
    mix: Optional[Mapping[str, float]] = None,
    codecs: Optional[Sequence[str]] = None,
    holdout_codecs: Sequence[str] = (),
    holdout_noises: Sequence[str] = (),
    holdout_share: float = 0.1,
    per_source: int = 1,
) -> QualitySetResult:
    """Build a PESQ-labelled quality set (Quality-Net, sec. 3.1, and beyond).

    * ``clean_dir`` is searched recursively for audio (TIMIT's ``TRAIN/DR1/FCJF0/
      SA1.WAV`` SPHERE files work unchanged; speaker = parent folder name);
      ``noise_dir`` holds noise recordings (noise type = file stem; a first-level
      sub-folder names the noise's family).
    * **Classic plan** (``mix=None``): a seeded permutation picks
      ``round(clean_fraction * N)`` utterances kept clean (default 250/4620 as in the
      paper) and ``round(enhanced_fraction * N)`` enhanced (default: half of the rest;
      a non-zero fraction gives at least one item); the others are noisy. Each
      utterance gets exactly one condition, noise type and SNR (unparalleled), drawn
      from ``np.random.default_rng([seed, index])`` with ``index`` the file's position
      in the sorted list, as is the random offset into the (looped) noise.
    * **Families plan** (``mix`` = ``{family: weight}`` over
      :data:`~tfaudio.systems.qualitynet.conditions.FAMILIES`): every source gives
      ``per_source`` items; ``round(clean_fraction * items)`` sources keep their first
      item clean, every other item draws a family by weight and its settings
      (:func:`~tfaudio.systems.qualitynet.conditions.draw_condition`): noise at one
      of ``snrs`` (one noise family, then one of its files, uniformly), Wiener-enhanced
      noise, a codec of ``codecs`` (default: every family the installed ffmpeg
      encodes), band limits, clipping, dropouts, reverberation. Speakers are split
      first; ``holdout_codecs`` / ``holdout_noises`` occur only in the test split
      (each on ``holdout_share`` of its items) and their rows are flagged
      ``zero_shot``. Manifests add ``family``, ``detail`` and ``zero_shot``.
    * Label: ``pesq(fs, clean, degraded, "wb")`` at 16 kHz / ``"nb"`` at 8 kHz
      (``band="auto"``), computed on the written 16-bit file. Items PESQ cannot
      score, and unreadable / empty / silent / too short files, are skipped with a
      reason (logged, listed in ``skipped.csv`` and in the result), never NaN.
    * Writes ``out_dir/audio/<family>/<utt>[__<settings>].wav``, one
      ``out_dir/items/<utt>.json`` record per item, and manifests ``train.csv``,
      ``dev.csv``, ``test.csv`` (columns :data:`MANIFEST_COLUMNS`) and ``all.csv``
      (plus ``split``), paths relative to ``out_dir``. Splits are speaker-disjoint
      (utterances with unknown speaker are split individually).
    * Runs on ``workers`` processes (default ``os.cpu_count()``; ``1`` = in this
      process) with a tqdm bar. Resumable: an item whose record and wav exist with
      the same inputs/parameters is not recomputed.
    * ``max_utterances`` keeps a seeded random subset of the clean files.
    """
    clean_dir = Path(clean_dir).expanduser()
    noise_dir = Path(noise_dir).expanduser()
    out_dir = Path(out_dir).expanduser()
    if not clean_dir.is_dir():
        raise QualitySetError(f"clean speech folder not found: {clean_dir}")
    if not noise_dir.is_dir():
        raise QualitySetError(f"noise folder not found: {noise_dir}")
    mode = P.resolve_band(band, int(sample_rate))
    snrs = [float(s) for s in snrs]
    if not snrs:
        raise QualitySetError("at least one SNR is needed")
    plan = None
    if mix is not None:
        from tfaudio.audio import degrade

        use_codecs = tuple(codecs) if codecs is not None else tuple(
            c for c, ok in degrade.available_codecs().items() if ok and c not in holdout_codecs)
        plan = C.Plan(mix=dict(mix), snrs=tuple(snrs), codecs=use_codecs,
                      holdout_codecs=tuple(holdout_codecs), holdout_noises=tuple(holdout_noises),
                      holdout_share=float(holdout_share))
    enhanced_fraction = _check_options(clean_fraction, enhanced_fraction, int(per_source), plan)
    out_dir.mkdir(parents=True, exist_ok=True)
    clean_abs = clean_dir.resolve()

    # ---- discover clean speech ------------------------------------------------------
    utts = _discover(clean_abs, [out_dir.resolve(), noise_dir.resolve()])
    indices = list(range(len(utts)))
    if max_utterances is not None and max_utterances < len(utts):
        perm = np.random.default_rng([seed, 5, 5]).permutation(len(utts))
        indices = sorted(int(i) for i in perm[: int(max_utterances)])
    n = len(indices)

    noises, noise_family = _load_noises(noise_dir, int(sample_rate))
    noise_names = sorted(noises)
    families = C.noise_families(noise_names, noise_family)
    if plan is not None:
        try:
            plan.validate(list(families))
        except ValueError as exc:
            raise QualitySetError(str(exc)) from exc
    # content fingerprints: a changed noise recording invalidates finished items
    noise_crc = {k: f"{zlib.crc32(np.ascontiguousarray(v).tobytes()):08x}"
                 for k, v in noises.items()}
    noise_len = {k: int(v.shape[0]) for k, v in noises.items()}

    # ---- plan: condition per item -------------------------------------------------
    from tfaudio.audio.enhance import ENHANCER_VERSION

    cfg = {"out_dir": str(out_dir), "sample_rate": int(sample_rate), "band": mode,
           "enhancer": ENHANCER_VERSION}
    if plan is None:
        conds = _classic_plan(indices, seed, clean_fraction, enhanced_fraction, noise_names,
                              snrs, noise_len)
        split_of_spk = None
    else:
        groups = {idx: _group(utts[idx][1], clean_abs, utts[idx][0]) for idx in indices}
        split_of_spk = assign_splits([groups[i] for i in indices], splits, seed=seed)
        conds = _families_plan(indices, seed, clean_fraction, int(per_source), plan, families,
                               noise_len, {i: split_of_spk[groups[i]] for i in indices})
    specs = []
    for idx, k, cond in conds:
        uid, f = utts[idx]
        item_id = uid if plan is None or per_source == 1 else f"{uid}__{k}"
        folder = cond["family"] if plan is None else cond["condition"].split(":")[0]
        rel = f"audio/{folder}/{item_id}"
        if cond["noise"]:
            rel += f"__{cond['noise']}_{_snr_tag(cond['snr'])}"
        elif cond.get("detail") and folder != "clean":
            rel += "__" + _tag(cond["detail"])
        try:
            size = f.stat().st_size
        except OSError:
            size = -1
        spec = {
            "index": idx * int(per_source) + k, "utt_id": item_id, "source": str(f),
            "source_rel": f.relative_to(clean_abs).as_posix(), "source_size": size,
            "speaker": speaker_of(f, clean_abs), "condition": cond["condition"],
            "noise": cond["noise"], "snr": cond["snr"], "noise_offset": cond["noise_offset"],
            "noise_len": noise_len[cond["noise"]] if cond["noise"] else None,
            "noise_crc": noise_crc[cond["noise"]] if cond["noise"] else None,
            "out_rel": rel + ".wav", "params": cond.get("params") or {},
        }
        if plan is not None:
            spec.update(family=cond["family"], detail=cond.get("detail", ""),
                        zero_shot=cond["family"].startswith(C.ZERO_SHOT),
                        split=split_of_spk[groups[idx]])
        specs.append(spec)
    (out_dir / "items").mkdir(parents=True, exist_ok=True)

    records, reused, todo = _run_items(specs, cfg, noises, workers, progress)

    # ---- collect -----------------------------------------------------------------
    for sub in ("audio", "items"):  # temp files left by an earlier, killed run
        for stale in (out_dir / sub).rglob("*.part*"):
            if stale.is_file():
                stale.unlink()
    records.sort(key=lambda r: r["index"])
    ok = [r for r in records if r["status"] == "ok"]
    skipped = [(r["source"], r["reason"]) for r in records if r["status"] != "ok"]
    resampled = Counter(r["orig_sr"] for r in records
                        if r.get("orig_sr") and r["orig_sr"] != sample_rate)
    if resampled:
        log.info("resampled %d clean file(s) to %d Hz (original rates: %s)",
                 sum(resampled.values()), sample_rate,
                 ", ".join(f"{r} Hz x{n}" for r, n in sorted(resampled.items())))
    skip_df = pd.DataFrame(skipped, columns=["source", "reason"])
    write_text(out_dir / "skipped.csv", skip_df.to_csv(index=False))
    if not ok:
        reasons = Counter(_reason_kind(r) for _, r in skipped)
        raise QualitySetError(f"no utterance could be labelled ({len(skipped)} skipped: "
                              + "; ".join(f"{n} x {r}" for r, n in reasons.most_common(5))
                              + ")")
    df = _manifest_frame(ok, out_dir, splits, seed, plan is not None)
    columns = MANIFEST_COLUMNS + (FAMILY_COLUMNS if plan is not None else [])
    manifests = {}
    for name in SPLITS:
        part = df[df["split"] == name][columns]
        manifests[name] = write_manifest(part, out_dir / f"{name}.csv")
        if part.empty and splits[SPLITS.index(name)] > 0:
            log.warning("split %r is empty (too few speakers for the requested fractions)",
                        name)
    manifests["all"] = write_manifest(df, out_dir / "all.csv")

    group_col = "condition" if plan is None else "family"
    names = CONDITIONS if plan is None else sorted(set(df[group_col]), key=_family_rank)
    stats = {}
    for cond in names:
        s = df.loc[df[group_col] == cond, "score"].to_numpy()
        if s.size:
            stats[cond] = {"n": int(s.size), "min": float(s.min()), "max": float(s.max()),
                           "mean": float(s.mean()), "median": float(np.median(s)),
                           "p10": float(np.percentile(s, 10)),
                           "p90": float(np.percentile(s, 90))}
    result = QualitySetResult(
        out_dir=out_dir, manifests=manifests,
        counts={c: int((df[group_col] == c).sum()) for c in names},
        split_counts={s: int((df["split"] == s).sum()) for s in SPLITS},
        computed=len(todo), reused=reused, skipped=skipped, score_stats=stats,
    )
    summary = {
        "counts": result.counts, "splits": result.split_counts,
        "skipped": [{"source": s, "reason": r} for s, r in skipped],
        "score_stats": stats, "snrs": snrs, "sample_rate": int(sample_rate), "band": mode,
        "seed": seed, "clean_fraction": clean_fraction,
        "enhanced_fraction": enhanced_fraction, "noises": noise_names,
        "enhancer": ENHANCER_VERSION,
    }
    if plan is not None:
        from tfaudio.audio import degrade

        summary.update(plan=plan.to_dict(), per_source=int(per_source),
                       noise_families={f: v for f, v in families.items()},
                       conditions={c: int(v) for c, v in df["condition"].value_counts().sort_index().items()},
                       ffmpeg=degrade.ffmpeg_version())
    _atomic_json(out_dir / "summary.json", summary)
    level = logging.WARNING if skipped else logging.INFO
    log.log(level, "%s", result.summary())
    return result


def _family_rank(name: str):
    order = ["clean", "noise", "enhanced", "codec", "bandlimit", "clipping", "dropout", "reverb"]
    return (order.index(name) if name in order else len(order), name)


def _group(path: Path, root: Path, uid: str) -> str:
    spk = speaker_of(path, root)
    return spk if spk else f"utt:{uid}"


def _classic_plan(indices, seed, clean_fraction, enhanced_fraction, noise_names, snrs,
                  noise_len):
    n = len(indices)
    n_clean = int(round(clean_fraction * n))
    if clean_fraction > 0 and n_clean == 0 and n > 1:
        n_clean = 1  # a non-zero fraction always gives at least one item
    n_enh = min(n - n_clean, int(round(enhanced_fraction * n)))
    if enhanced_fraction > 0 and n_enh == 0 and n - n_clean > 1:
        n_enh = 1
    order = np.random.default_rng([seed, 7, 7]).permutation(n)
    cond_of = {}
    for rank, pos in enumerate(order):
        cond_of[indices[int(pos)]] = ("clean" if rank < n_clean else
                                      "enhanced" if rank < n_clean + n_enh else "noisy")
    return [(idx, 0, C.classic_condition(np.random.default_rng([seed, idx]), cond_of[idx],
                                         noise_names, snrs, noise_len)) for idx in indices]


def _families_plan(indices, seed, clean_fraction, per_source, plan, families, noise_len,
                   split_of):
    n = len(indices)
    n_clean = min(n, int(round(clean_fraction * n * per_source)))
    if clean_fraction > 0 and n_clean == 0 and n > 1:
        n_clean = 1
    order = np.random.default_rng([seed, 7, 7]).permutation(n)
    clean = {indices[int(pos)] for pos in order[:n_clean]}
    out = []
    for idx in indices:
        for k in range(per_source):
            if k == 0 and idx in clean:
                cond = {"condition": "clean", "family": "clean", "noise": "", "snr": None,
                        "noise_offset": 0, "params": {}, "detail": ""}
            else:
                rng = np.random.default_rng([seed, idx, k, 11])
                cond = C.draw_condition(rng, plan, families, noise_len, split_of[idx])
                cond.setdefault("noise", "")
                cond.setdefault("snr", None)
                cond.setdefault("noise_offset", 0)
            out.append((idx, k, cond))
    return out


def _run_items(specs, cfg, noises, workers, progress):
    records: List[dict] = []
    todo = []
    for spec in specs:
        rec = _load_finished(spec, cfg)
        if rec is None:
            todo.append(spec)
        else:
            records.append(rec)
    reused = len(records)
    if reused:
        log.info("resuming: %d of %d items already done", reused, len(specs))
    n_workers = int(workers) if workers else (os.cpu_count() or 1)
    n_workers = max(1, min(n_workers, len(todo))) if todo else 1
    from tqdm.auto import tqdm

    bar = tqdm(total=len(specs), initial=reused, disable=not progress, unit="utt",
               desc="PESQ-labelling", dynamic_ncols=True, file=sys.stderr)

    def _done(rec):
        records.append(rec)
        if rec["status"] != "ok":
            log.warning("skipped %s: %s", rec["source"], rec["reason"])
        bar.update(1)

    try:
        if n_workers == 1:
            _init_worker(noises)
            for spec in todo:
                _done(_process_item(spec, cfg))
        else:
            ctx = (multiprocessing.get_context("fork")
                   if "fork" in multiprocessing.get_all_start_methods() else None)
            ex = ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx,
                                     initializer=_init_worker, initargs=(noises,))
            try:
                futures = [ex.submit(_process_item, spec, cfg) for spec in todo]
                for fut in as_completed(futures):
                    _done(fut.result())
            except BaseException:  # Ctrl-C / crash: drop queued work, keep finished items
                ex.shutdown(wait=True, cancel_futures=True)
                raise
            ex.shutdown(wait=True)
    finally:
        bar.close()
        _init_worker({})
    return records, reused, todo


def _manifest_frame(ok: Sequence[dict], out_dir: Path, splits, seed: int,
                    families: bool) -> pd.DataFrame:
    if families:
        split_of = {r["utt_id"]: r["split"] for r in ok}
    else:
        groups = [r["speaker"] if r["speaker"] else f"utt:{r['utt_id']}" for r in ok]
        by_group = assign_splits(groups, splits, seed=seed)
        split_of = {r["utt_id"]: by_group[g] for r, g in zip(ok, groups)}
    known = {r["speaker"] for r in ok if r["speaker"]}
    if len(known) == 1:
        log.warning("all utterances come from one speaker (%s): the splits cannot be "
                    "speaker-disjoint", next(iter(known)))
    rows = []
    for r in ok:
        row = {
            "path": str(out_dir / r["path"]), "score": float(r["score"]),
            "condition": r["condition"], "speaker": r["speaker"], "noise": r["noise"],
            "snr": r["snr"] if r["snr"] is not None else "", "source": r["source"],
        }
        if families:
            row.update(family=r.get("family", r["condition"]), detail=r.get("detail", ""),
                       zero_shot=int(bool(r.get("zero_shot"))))
        row["split"] = split_of[r["utt_id"]]
        rows.append(row)
    columns = MANIFEST_COLUMNS + (FAMILY_COLUMNS if families else []) + ["split"]
    return pd.DataFrame(rows, columns=columns)
