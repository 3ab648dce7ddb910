"""DFE: dynamic time-frequency mask enhancement for noise-robust sound event classification."""
from tfaudio.registry import register

register("dfe", cli="tfaudio.systems.dfe.cli")
