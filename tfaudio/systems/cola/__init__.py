"""COLA: contrastive self-supervised audio embeddings, linear-probe and fine-tuning evaluation."""
from tfaudio.registry import register

register("cola", cli="tfaudio.systems.cola.cli")
