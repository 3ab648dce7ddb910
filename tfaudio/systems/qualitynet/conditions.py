"""What each item of a quality set is: its condition family, the degradation's
settings, and the degraded signal.

Two plans exist.

* **Classic** (the paper, section 3.1): *clean*, *noisy* (one noise type at one SNR)
  and *enhanced* (noisy, then the Wiener enhancer); :func:`classic_condition`.
* **Families** (``mix`` given): clean plus any of :data:`FAMILIES` -- additive
  *noise*, *enhanced*, low-rate *codec* s (ffmpeg), *bandlimit* (narrow-band
  telephone or a 4-7 kHz low-pass), *clipping*, packet-loss *dropout* and synthetic
  *reverb* -- each item drawn with the mix's weights (:func:`draw_condition`).
  Noise recordings come in families: a noise folder's sub-folders
  (``noise/<family>/<name>.wav``), else each file is its own family.

**Zero-shot families.** Codec families and noise families named as held out never
occur in the training and development splits; test items get each of them with
probability ``holdout_share``, so the test set measures how the model does on
degradations it never saw (their table rows are named ``zero-shot ...``).

Every draw comes from the caller's generator (seeded by seed, item index and copy),
so an item is a pure function of the seed and its inputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from tfaudio.audio import degrade
from tfaudio.audio.io import mix_at_snr

#: Degradation families of the ``mix`` plan (clean is set by the clean fraction).
FAMILIES = ("noise", "enhanced", "codec", "bandlimit", "clipping", "dropout", "reverb")
#: Default weights of the families (normalised): noise first, then codecs.
DEFAULT_MIX = {"noise": 0.30, "enhanced": 0.12, "codec": 0.24, "bandlimit": 0.09,
               "clipping": 0.08, "dropout": 0.08, "reverb": 0.09}
#: The paper's SNRs (dB).
PAPER_SNRS = (-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
#: Ranges the settings are drawn from (uniform unless said).
LOWPASS_HZ = (4000.0, 7000.0)
CLIP_FRACTION = (0.003, 0.2)  # log-uniform share of samples flattened
DROPOUT_LOSS = (0.03, 0.3)
REVERB_RT60 = (0.2, 1.0)
REVERB_DRR_DB = (-2.0, 12.0)
ZERO_SHOT = "zero-shot"


@dataclass(frozen=True)
class Plan:
    """Settings of the families plan (see the module docstring)."""

    mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    snrs: Tuple[float, ...] = PAPER_SNRS
    codecs: Tuple[str, ...] = ()
    holdout_codecs: Tuple[str, ...] = ()
    holdout_noises: Tuple[str, ...] = ()
    holdout_share: float = 0.1

    def validate(self, noise_families: Sequence[str]) -> None:
        """Raise ``ValueError`` (one line) for settings that cannot work."""
        unknown = sorted(set(self.mix) - set(FAMILIES))
        if unknown:
            raise ValueError(f"unknown condition famil{'y' if len(unknown) == 1 else 'ies'} "
                             f"{', '.join(unknown)}; choose from {', '.join(FAMILIES)}")
        if any(w < 0 for w in self.mix.values()) or sum(self.mix.values()) <= 0:
            raise ValueError("condition weights must be >= 0 and not all 0")
        if not self.snrs:
            raise ValueError("at least one SNR is needed")
        if not 0.0 <= self.holdout_share <= 0.5:
            raise ValueError(f"holdout share must be within [0, 0.5], got {self.holdout_share}")
        if self.mix.get("codec", 0) > 0 or self.holdout_codecs:
            if not self.codecs:
                raise ValueError("the codec family needs at least one codec")
            degrade.check_codecs(list(self.codecs) + list(self.holdout_codecs))
            both = set(self.codecs) & set(self.holdout_codecs)
            if both:
                raise ValueError(f"codec {', '.join(sorted(both))} is both used and held out")
        missing = [n for n in self.holdout_noises if n not in noise_families]
        if missing:
            raise ValueError(f"held-out noise famil{'y' if len(missing) == 1 else 'ies'} "
                             f"{', '.join(missing)} not in the noise folder (it has: "
                             f"{', '.join(sorted(noise_families))})")
        if set(self.holdout_noises) >= set(noise_families) and (
                self.mix.get("noise", 0) > 0 or self.mix.get("enhanced", 0) > 0):
            raise ValueError("every noise family is held out: no noise is left for training")

    def to_dict(self) -> dict:
        return {"mix": dict(sorted(self.mix.items())), "snrs": list(self.snrs),
                "codecs": list(self.codecs), "holdout_codecs": list(self.holdout_codecs),
                "holdout_noises": list(self.holdout_noises),
                "holdout_share": self.holdout_share}


def parse_mix(items: Sequence[str]) -> Dict[str, float]:
    """``["noise=0.3", "codec=0.2", "reverb"]`` -> weights (a bare name weighs 1)."""
    mix: Dict[str, float] = {}
    for item in items:
        name, _, value = str(item).partition("=")
        name = name.strip()
        try:
            mix[name] = float(value) if value.strip() else 1.0
        except ValueError:
            raise ValueError(f"bad condition weight {item!r} (expected NAME=WEIGHT, e.g. "
                             f"codec=0.2)") from None
    return mix


def noise_families(names: Sequence[str], family_of: Mapping[str, str]) -> Dict[str, List[str]]:
    """``{family: sorted noise names}``."""
    out: Dict[str, List[str]] = {}
    for n in sorted(names):
        out.setdefault(family_of.get(n, n), []).append(n)
    return out


# ----------------------------------------------------------------------------------
# drawing
# ----------------------------------------------------------------------------------
def _pick(rng: np.random.Generator, options: Sequence):
    return options[int(rng.integers(len(options)))]


def _noise_draw(rng, families: Mapping[str, Sequence[str]], allowed: Sequence[str],
                snrs, noise_len: Mapping[str, int]) -> dict:
    fam = _pick(rng, sorted(allowed))
    name = _pick(rng, families[fam])
    snr = float(_pick(rng, snrs))
    return {"noise": name, "noise_family": fam, "snr": snr,
            "noise_offset": int(rng.integers(0, noise_len[name]))}


def classic_condition(rng: np.random.Generator, condition: str, noise_names: Sequence[str],
                      snrs, noise_len: Mapping[str, int]) -> dict:
    """The paper's plan: ``condition`` (clean / noisy / enhanced) is given; one noise
    file and one SNR drawn uniformly (the draws of the earlier releases, in order)."""
    noise = noise_names[int(rng.integers(len(noise_names)))]
    snr = float(snrs[int(rng.integers(len(snrs)))])
    offset = int(rng.integers(0, noise_len[noise]))
    if condition == "clean":
        return {"condition": "clean", "family": "clean", "noise": "", "snr": None,
                "noise_offset": 0, "params": {}}
    return {"condition": condition, "family": condition, "noise": noise, "snr": snr,
            "noise_offset": offset, "params": {}}


def draw_condition(rng: np.random.Generator, plan: Plan, families: Mapping[str, Sequence[str]],
                   noise_len: Mapping[str, int], split: str) -> dict:
    """One non-clean item's condition under ``plan`` for an item of ``split``.

    Returns ``condition`` (fine: ``"codec: opus"``), ``family`` (the table group:
    ``"codec"``, or ``"zero-shot codec: speex"`` for a held-out family), ``detail``
    (human-readable settings), ``noise`` / ``snr`` / ``noise_offset`` (noise-based
    families) and ``params`` (every setting the degradation needs)."""
    in_noise = [f for f in families if f not in plan.holdout_noises]
    u = rng.random()
    held = [("codec", c) for c in plan.holdout_codecs] + [("noise", n) for n in plan.holdout_noises]
    if split == "test" and held and u < plan.holdout_share * len(held):
        kind, name = held[min(int(u / plan.holdout_share), len(held) - 1)]
        if kind == "codec":
            out = _codec_draw(rng, name)
        else:
            d = _noise_draw(rng, families, [name], plan.snrs, noise_len)
            out = {**d, "condition": f"noise: {name}", "params": {},
                   "detail": f"{d['noise']} at {d['snr']:g} dB"}
        out["family"] = f"{ZERO_SHOT} {kind}: {name}"
        return out
    weights = {k: v for k, v in plan.mix.items() if v > 0}
    if not in_noise:
        weights = {k: v for k, v in weights.items() if k not in ("noise", "enhanced")}
    names = sorted(weights)
    p = np.array([weights[k] for k in names], float)
    fam = names[int(rng.choice(len(names), p=p / p.sum()))]
    if fam in ("noise", "enhanced"):
        d = _noise_draw(rng, families, in_noise, plan.snrs, noise_len)
        out = {**d, "condition": f"{fam}: {d['noise_family']}", "params": {},
               "detail": f"{d['noise']} at {d['snr']:g} dB" + (", Wiener" if fam == "enhanced" else "")}
    elif fam == "codec":
        out = _codec_draw(rng, _pick(rng, list(plan.codecs)))
    elif fam == "bandlimit":
        if rng.random() < 0.5:
            out = {"condition": "bandlimit: telephone", "params": {"kind": "telephone"},
                   "detail": "300-3400 Hz, 8 kHz"}
        else:
            hz = float(np.round(rng.uniform(*LOWPASS_HZ), -1))
            out = {"condition": "bandlimit: lowpass", "params": {"kind": "lowpass", "hz": hz},
                   "detail": f"low-pass {hz / 1000:.2f} kHz"}
    elif fam == "clipping":
        lo, hi = np.log(CLIP_FRACTION[0]), np.log(CLIP_FRACTION[1])
        frac = float(np.round(np.exp(rng.uniform(lo, hi)), 4))
        out = {"condition": "clipping", "params": {"fraction": frac},
               "detail": f"{100 * frac:.1f} % of samples clipped"}
    elif fam == "dropout":
        loss = float(np.round(rng.uniform(*DROPOUT_LOSS), 3))
        out = {"condition": "dropout", "params": {"loss": loss, "packet_ms": 20.0,
                                                  "seed": int(rng.integers(2 ** 31))},
               "detail": f"{100 * loss:.0f} % of 20 ms packets lost"}
    else:  # reverb
        rt60 = float(np.round(rng.uniform(*REVERB_RT60), 2))
        drr = float(np.round(rng.uniform(*REVERB_DRR_DB), 1))
        out = {"condition": "reverb", "params": {"rt60": rt60, "drr_db": drr,
                                                 "seed": int(rng.integers(2 ** 31))},
               "detail": f"RT60 {rt60:.2f} s, DRR {drr:g} dB"}
    out["family"] = fam
    return out


def _codec_draw(rng: np.random.Generator, name: str) -> dict:
    rate = _pick(rng, degrade.CODECS[name].rates)
    return {"condition": f"codec: {name}", "params": {"codec": name, "rate": rate},
            "detail": f"{name} {rate}" if rate else name}


# ----------------------------------------------------------------------------------
# applying
# ----------------------------------------------------------------------------------
def apply_condition(clean: np.ndarray, sample_rate: int, spec: Mapping,
                    noises: Mapping[str, np.ndarray]) -> np.ndarray:
    """The degraded signal of one item (same length as ``clean``)."""
    family = spec["condition"].split(":")[0].strip()
    params = spec.get("params") or {}
    if family == "clean":
        return np.asarray(clean)
    if family in ("noise", "noisy", "enhanced"):
        deg = mix_at_snr(clean, noises[spec["noise"]], float(spec["snr"]),
                         offset=int(spec["noise_offset"]))
        if family == "enhanced":
            from tfaudio.audio.enhance import wiener_enhance

            deg = wiener_enhance(deg, sample_rate=sample_rate)
        return deg
    if family == "codec":
        return degrade.codec(clean, sample_rate, params["codec"], params["rate"])
    if family == "bandlimit":
        if params["kind"] == "telephone":
            return degrade.telephone_band(clean, sample_rate)
        return degrade.band_limit(clean, sample_rate, 0.0, float(params["hz"]))
    if family == "clipping":
        return degrade.hard_clip(clean, float(params["fraction"]))
    if family == "dropout":
        return degrade.dropouts(clean, sample_rate, float(params["loss"]),
                                np.random.default_rng(int(params["seed"])),
                                packet_ms=float(params["packet_ms"]))
    if family == "reverb":
        return degrade.reverberate(clean, sample_rate, float(params["rt60"]),
                                   float(params["drr_db"]),
                                   np.random.default_rng(int(params["seed"])))
    raise ValueError(f"unknown condition {spec['condition']!r}")


def key_extras(spec: Mapping) -> Optional[dict]:
    """What besides the settings makes an item's signal (for the resume key)."""
    family = spec["condition"].split(":")[0].strip()
    if family == "codec":
        return {"degrade": degrade.DEGRADE_VERSION, "ffmpeg": degrade.ffmpeg_version()}
    if family in ("bandlimit", "clipping", "dropout", "reverb"):
        return {"degrade": degrade.DEGRADE_VERSION}
    return None
