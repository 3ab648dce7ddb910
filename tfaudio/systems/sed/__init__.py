"""Weakly labelled sound event detection: CRNN, tri-training pseudo labels, gradient-reversal adversarial learning."""
from tfaudio.registry import register

register("sed", cli="tfaudio.systems.sed.cli")
