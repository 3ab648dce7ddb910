"""A deterministic miniature IEMOCAP in the release layout (the embedded default data).

Five sessions of two synthetic actors (a woman, ``F``, and a man, ``M``), improvised
dialogs ``Ses0N{F,M}_impro0K`` whose turns alternate between the two, and for each
dialog ``Session N/dialog/EmoEvaluation/<dialog>.txt`` in the corpus' format. Speech
is the source-filter synthesiser of :mod:`tfaudio.datasets.timit_embedded`; the
emotion acts on the prosody of the speaker's voice, as it does in acted speech:

==========  ===========  =============  ======  ========  ============
emotion     pitch level  pitch range    rate    level     voice
==========  ===========  =============  ======  ========  ============
anger       +20 %        x 1.8          x 1.2   +6 dB     bright (no tilt)
happiness   +30 %        x 2.2          x 1.1   +3 dB     as is
sadness     -15 %        x 0.4          x 0.75  -6 dB     breathy, dark
neutral     as is        as is          as is   as is     as is
==========  ===========  =============  ======  ========  ============

Some turns carry labels the four-class set leaves out (``fru``, ``xxx``) and some
happy turns are labelled ``exc``, as in the corpus. Pure function of the seed.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, List

import numpy as np

from tfaudio.atomic import write_text
from tfaudio.audio.io import write_audio
from tfaudio.datasets.speech_synth import make_speakers, synth_utterance

GENERATOR_VERSION = "iemocap-synth-1"

#: emotion -> (pitch factor, range factor, rate factor, level dB, breathiness factor, tilt)
PROSODY: Dict[str, tuple] = {
    "ang": (1.20, 1.8, 1.20, 6.0, 1.0, 0.0),
    "hap": (1.30, 2.2, 1.10, 3.0, 1.0, None),
    "exc": (1.30, 2.2, 1.10, 3.0, 1.0, None),
    "sad": (0.85, 0.4, 0.75, -6.0, 2.5, 0.7),
    "neu": (1.00, 1.0, 1.00, 0.0, 1.0, None),
    "fru": (1.10, 1.3, 1.05, 2.0, 1.2, None),
    "xxx": (1.05, 1.2, 1.00, 0.0, 1.0, None),
}


def emotional_voice(speaker, label: str):
    f0, swing, rate, _, breath, tilt = PROSODY[label]
    return dataclasses.replace(
        speaker, f0=speaker.f0 * f0, f0_swing=speaker.f0_swing * swing, rate=speaker.rate * rate,
        breathiness=min(0.4, speaker.breathiness * breath), tilt=speaker.tilt if tilt is None else tilt)


def _labels(per_emotion: int, dialog: int) -> List[str]:
    """The turn labels of one speaker in one dialog."""
    labels = []
    for k in range(per_emotion):
        labels += ["ang", "exc" if (k + dialog) % 3 == 0 else "hap", "sad", "neu"]
    labels += ["fru"] if dialog % 2 == 0 else ["xxx"]
    return labels


def write_iemocap_tree(root, utterances_per_emotion: int = 2, dialogs_per_session: int = 2,
                       seed: int = 0, sample_rate: int = 16000, min_seconds: float = 1.2,
                       max_seconds: float = 2.2) -> List[Path]:
    """Write the miniature release under ``root``; each speaker says
    ``utterances_per_emotion`` turns of each of the four emotions (plus one turn
    labelled outside them) in each dialog. Returns the sorted ``.wav`` paths."""
    root = Path(root)
    voices = make_speakers(10, seed + 2)  # even index: female
    paths = []
    for s in range(1, 6):
        actors = {"F": voices[2 * (s - 1)], "M": voices[2 * (s - 1) + 1]}
        for d in range(1, dialogs_per_session + 1):
            lead = "F" if d % 2 else "M"
            dialog = f"Ses0{s}{lead}_impro0{d}"
            turns = []
            for sex in ("F", "M"):
                for i, lab in enumerate(_labels(utterances_per_emotion, d)):
                    turns.append((i, sex, lab))
            turns.sort()  # alternate F, M like a dialog
            t = 0.0
            lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
            for i, sex, lab in turns:
                uid = f"{dialog}_{sex}{i:03d}"
                rng = np.random.default_rng([seed, 31, s, d, i, ord(sex)])
                seconds = float(rng.uniform(min_seconds, max_seconds))
                level = -26.0 + PROSODY[lab][3] + float(rng.uniform(-2.0, 2.0))
                audio, _ = synth_utterance(emotional_voice(actors[sex], lab), [seed, 37, s, d, i, ord(sex)],
                                           seconds=seconds, sample_rate=sample_rate, level_db=level)
                audio = audio[: int(max_seconds * sample_rate)]
                wav = root / f"Session{s}" / "sentences" / "wav" / dialog / f"{uid}.wav"
                write_audio(wav, audio, sample_rate, subtype="PCM_16", format="WAV")
                paths.append(wav)
                dur = len(audio) / sample_rate
                vad = {"ang": "[2.0000, 4.0000, 4.0000]", "sad": "[2.0000, 2.0000, 2.5000]"}.get(
                    lab, "[3.0000, 3.0000, 3.0000]")
                lines += [f"[{t:.4f} - {t + dur:.4f}]\t{uid}\t{lab}\t{vad}",
                          f"C-E1:\t{lab};\t()", f"C-E2:\t{lab};\t()", ""]
                t += dur + 0.5
            write_text(root / f"Session{s}" / "dialog" / "EmoEvaluation" / f"{dialog}.txt",
                       "\n".join(lines) + "\n")
    return sorted(paths)
