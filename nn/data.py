"""Seeded data generators."""
import numpy as np


def quadratic(n_samples=200, x_min=-3.0, x_max=3.0, noise_std=2.0, seed=None):
    """The reference problem: n evenly spaced x in [x_min, x_max], y = x^2 - 2 + N(0, noise_std^2).

    Returns X and Y, both of shape (n_samples, 1), float64.
    """
    rng = np.random.default_rng(seed)
    x = np.linspace(x_min, x_max, n_samples)
    y = x ** 2 - 2 + rng.normal(0.0, noise_std, n_samples)
    return x.reshape(-1, 1), y.reshape(-1, 1)


def true_quadratic(x):
    """The noiseless curve behind ``quadratic``."""
    return np.asarray(x, dtype=np.float64) ** 2 - 2
