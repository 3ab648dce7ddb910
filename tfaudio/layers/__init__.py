"""Reusable layers: per-example dynamic convolution, TFLite-safe LSTMs."""
from tfaudio.layers.dynamic import AffineLayerNorm, DynamicConv2D, layer_norm_hwc
from tfaudio.layers.recurrent import BiLoopLSTM, LoopLSTM, configure_tflite_converter

__all__ = [
    "AffineLayerNorm",
    "BiLoopLSTM",
    "DynamicConv2D",
    "LoopLSTM",
    "configure_tflite_converter",
    "layer_norm_hwc",
]
