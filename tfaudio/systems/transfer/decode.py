"""Hybrid phone decoding and phone error rate.

The decoding graph: a three-state left-to-right HMM per phone (48 phones, the
network's 144 output states), phones joined by a bigram phone language model
estimated on the training transcriptions (add-k smoothed, with sentence start and
end). Viterbi search over scaled likelihoods: the network's state posteriors divided
by the state priors (training frame frequencies), in the log domain multiplied by the
acoustic scale; every phone entered pays the insertion penalty. Self-loop and exit
probabilities of each state come from the training alignment (mean state durations).
The best path's phone sequence is mapped to 39 phones for scoring.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

from tfaudio.datasets.timit import MAP_48_TO_39, PHONES_48

STATES = 3


class HybridDecoder:
    def __init__(self, log_priors: np.ndarray, log_bigram: np.ndarray, log_start: np.ndarray, log_end: np.ndarray,
                 log_stay: np.ndarray, log_leave: np.ndarray, phones: Sequence[str] = PHONES_48):
        self.log_priors = np.asarray(log_priors, np.float64)  # [P * 3]
        self.log_bigram = np.asarray(log_bigram, np.float64)  # [P, P]: from row to column
        self.log_start = np.asarray(log_start, np.float64)  # [P]
        self.log_end = np.asarray(log_end, np.float64)  # [P]
        self.log_stay = np.asarray(log_stay, np.float64)  # [P * 3]
        self.log_leave = np.asarray(log_leave, np.float64)  # [P * 3]
        self.phones = list(phones)

    @classmethod
    def from_training(cls, labels: np.ndarray, offsets: np.ndarray, phone_sequences: Sequence[Sequence[int]],
                      num_phones: int = len(PHONES_48), smoothing: float = 1.0, prior_floor: float = 1e-5,
                      phones: Sequence[str] = PHONES_48) -> "HybridDecoder":
        """Priors, transition probabilities and the bigram LM from training frame
        labels (``phone * 3 + state``, utterances delimited by ``offsets``) and the
        training utterances' phone id sequences."""
        k = num_phones * STATES
        counts = np.bincount(labels, minlength=k).astype(np.float64)
        priors = np.maximum(counts / max(counts.sum(), 1.0), prior_floor)
        # state visits (runs of one label) -> mean duration -> self-loop probability
        runs = np.zeros(k)
        for u in range(len(offsets) - 1):
            lab = labels[offsets[u]:offsets[u + 1]]
            if len(lab):
                starts = np.concatenate([[True], lab[1:] != lab[:-1]])
                runs += np.bincount(lab[starts], minlength=k)
        mean_dur = np.where(runs > 0, counts / np.maximum(runs, 1), 2.0)
        stay = np.clip(1.0 - 1.0 / np.maximum(mean_dur, 1.0), 0.05, 0.95)
        big = np.full((num_phones, num_phones), smoothing)
        start = np.full(num_phones, smoothing)
        end = np.full(num_phones, smoothing)
        for seq in phone_sequences:
            if not len(seq):
                continue
            start[seq[0]] += 1
            end[seq[-1]] += 1
            for a, b in zip(seq[:-1], seq[1:]):
                big[a, b] += 1
        # P(b | a) and P(</s> | a) share a's row mass
        row = big.sum(1) + end
        with np.errstate(divide="ignore"):  # zero counts (no smoothing) are log 0 = -inf
            return cls(np.log(priors), np.log(big / row[:, None]), np.log(start / start.sum()), np.log(end / row),
                       np.log(stay), np.log(1.0 - stay), phones)

    def decode(self, posteriors: np.ndarray, acoustic_scale: float = 1.0, insertion_penalty: float = 0.0) -> List[int]:
        """Best phone id sequence for state posteriors ``[frames, P * 3]``."""
        post = np.asarray(posteriors, np.float64)
        t_max, k = post.shape
        n_p = k // STATES
        if t_max == 0:
            return []
        em = acoustic_scale * (np.log(np.maximum(post, 1e-30)) - self.log_priors[None])
        entry = np.arange(n_p) * STATES
        last = entry + STATES - 1
        delta = np.full(k, -np.inf)
        delta[entry] = self.log_start - insertion_penalty + em[0, entry]
        back_state = np.zeros((t_max, k), np.int32)  # predecessor state
        for t in range(1, t_max):
            new = delta + self.log_stay  # stay
            src = np.arange(k)
            # advance inside a phone (state s-1 -> s)
            adv = np.full(k, -np.inf)
            adv[1:] = delta[:-1] + self.log_leave[:-1]
            adv[entry] = -np.inf
            take = adv > new
            new = np.where(take, adv, new)
            src = np.where(take, src - 1, src)
            # enter phone b from the last state of phone a
            exit_score = delta[last] + self.log_leave[last]  # [P]
            cand = exit_score[:, None] + self.log_bigram  # [a, b]
            best_a = np.argmax(cand, axis=0)
            enter = cand[best_a, np.arange(n_p)] - insertion_penalty
            take = enter > new[entry]
            new[entry] = np.where(take, enter, new[entry])
            src[entry] = np.where(take, last[best_a], src[entry])
            delta = new + em[t]
            back_state[t] = src
        final = delta[last] + self.log_end
        s = int(last[int(np.argmax(final))])
        path = np.zeros(t_max, np.int32)
        path[-1] = s
        for t in range(t_max - 1, 0, -1):
            path[t - 1] = back_state[t, path[t]]
        phones = []
        for t in range(t_max):
            st = int(path[t])
            if st % STATES == 0 and (t == 0 or path[t - 1] != st):
                if t == 0 or path[t - 1] // STATES != st // STATES or path[t - 1] % STATES == STATES - 1:
                    phones.append(st // STATES)
        return phones

    def to39(self, ids: Sequence[int]) -> List[str]:
        return [MAP_48_TO_39[self.phones[i]] for i in ids]

    def arrays(self) -> Dict[str, np.ndarray]:
        return {"log_priors": self.log_priors, "log_bigram": self.log_bigram, "log_start": self.log_start,
                "log_end": self.log_end, "log_stay": self.log_stay, "log_leave": self.log_leave}

    @classmethod
    def from_arrays(cls, arrays, phones: Sequence[str] = PHONES_48) -> "HybridDecoder":
        return cls(arrays["log_priors"], arrays["log_bigram"], arrays["log_start"], arrays["log_end"],
                   arrays["log_stay"], arrays["log_leave"], phones)


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences (the ``editdistance`` library)."""
    import editdistance

    return int(editdistance.eval(list(ref), list(hyp)))


def phone_error_rate(refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]]) -> float:
    """Total edit distance / total reference length."""
    errors = sum(edit_distance(r, h) for r, h in zip(refs, hyps))
    total = sum(len(r) for r in refs)
    return errors / total if total else float("nan")
