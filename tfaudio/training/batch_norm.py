"""Batch-norm statistics estimated from data, for a network whose weights stay as they are.

A randomly initialised network in inference mode normalises with its initial moving
statistics (mean 0, variance 1); through a deep stack such as EfficientNet the
activations then shrink towards zero and a probe on top sees almost nothing. The
usual remedy for a frozen random (or re-purposed) encoder is to re-estimate the
statistics on the target data first: run the network in training mode over a set
of batches and set each layer's moving mean and variance to the average of its
batch statistics ("precise BN"). Weights are untouched; dropout is off meanwhile.
"""
from __future__ import annotations

from typing import Iterable

import keras


def _layers(model, kind):
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True) if isinstance(layer, kind)]


def estimate_batch_norm_statistics(model: keras.Model, batches: Iterable) -> int:
    """Set every ``BatchNormalization`` layer's moving mean / variance in ``model`` to
    the mean of its batch statistics over ``batches`` (inputs of ``model``) -> the
    number of batches used. Raises ``ValueError`` for an empty ``batches``."""
    norms = _layers(model, keras.layers.BatchNormalization)
    drops = _layers(model, keras.layers.Dropout)
    momenta, rates = [b.momentum for b in norms], [d.rate for d in drops]
    count = 0
    try:
        for d in drops:
            d.rate = 0.0
        for x in batches:
            count += 1
            for b in norms:  # moving = moving * m + batch * (1 - m): a running mean at m = (k-1)/k
                b.momentum = (count - 1) / count
            model(x, training=True)
    finally:
        for b, m in zip(norms, momenta):
            b.momentum = m
        for d, r in zip(drops, rates):
            d.rate = r
    if not count:
        raise ValueError("no batches to estimate batch-norm statistics from")
    return count
