"""Weight initialisers, keyed by name. Biases always start at zero.

Each takes ``(rng, fan_in, fan_out)`` and returns a ``(fan_in, fan_out)`` float64 array.
"""
import numpy as np


def he(rng, fan_in, fan_out):
    """N(0, 2 / fan_in): keeps the variance of ReLU activations constant through depth."""
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)


def glorot(rng, fan_in, fan_out):
    """U(-r, r) with r = sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_in, fan_out))


def seed(rng, fan_in, fan_out):
    """The reference recipe: N(0, 1) x 0.01."""
    return rng.standard_normal((fan_in, fan_out)) * 0.01


INITIALIZERS = {"he": he, "glorot": glorot, "seed": seed}


def default_for(activation):
    """He for ReLU; Glorot for the saturating and linear activations."""
    return "he" if activation == "relu" else "glorot"


def get(name):
    try:
        return INITIALIZERS[name]
    except KeyError:
        raise ValueError(f"unknown init {name!r}; choose one of {sorted(INITIALIZERS)}") from None
