"""Group-disjoint splits (speakers, recording sessions): every group lands in exactly
one split, sizes follow the requested fractions of items, deterministic given a seed."""
from __future__ import annotations

from collections import Counter
from typing import Dict, Sequence

import numpy as np

from tfaudio.errors import ConfigError


def assign_splits(groups: Sequence[str], fractions: Sequence[float] = (0.8, 0.1, 0.1),
                  seed: int = 0, names: Sequence[str] = ("train", "dev", "test")) -> Dict[str, str]:
    """Map each group (speaker) to a split so that utterance counts approach
    ``fractions``; every group goes to exactly one split (speaker-disjoint).

    ``groups`` has one entry per utterance. Deterministic given ``seed``. Splits
    with a non-zero fraction each get at least one group when there are enough.
    """
    fr = np.asarray(fractions, dtype=float)
    if fr.shape[0] != len(names) or np.any(fr < 0) or fr.sum() <= 0:
        raise ConfigError(f"splits must be {len(names)} non-negative fractions, got "
                              f"{tuple(fractions)}")
    fr = fr / fr.sum()
    sizes = Counter(groups)
    keys = sorted(sizes)
    order = np.random.default_rng([seed, 3, 1]).permutation(len(keys))
    keys = [keys[i] for i in order]
    keys.sort(key=lambda k: -sizes[k])  # stable: big groups first, ties in random order
    total = sum(sizes.values())
    target = fr * total
    count = np.zeros(len(names))
    has = np.zeros(len(names), dtype=bool)
    active = fr > 0
    out = {}
    for i, k in enumerate(keys):
        remaining = len(keys) - i
        empty = [j for j in range(len(names)) if active[j] and not has[j]]
        if empty and remaining <= len(empty):
            j = max(empty, key=lambda j: target[j])
        else:
            deficit = np.where(active, target - count, -np.inf)
            j = int(np.argmax(deficit))
        out[k] = names[j]
        count[j] += sizes[k]
        has[j] = True
    return out
