import math

import numpy as np
import pytest

from nn import optimizers


def random_steps(n=5, size=7, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=size), [rng.normal(size=size) for _ in range(n)]


def test_gd_step():
    p, grads = random_steps()
    opt, expected = optimizers.GD(p, 0.1), p.copy()
    for g in grads:
        expected = expected - 0.1 * g
        opt.update(p, g.copy())
    assert np.allclose(p, expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_step(nesterov):
    p, grads = random_steps()
    lr, mu = 0.05, 0.9
    opt, expected, v = optimizers.SGD(p, lr, mu, nesterov), p.copy(), np.zeros_like(p)
    for g in grads:
        v = mu * v - lr * g
        expected = expected + (mu * v - lr * g if nesterov else v)
        opt.update(p, g.copy())
    assert np.allclose(p, expected, rtol=0, atol=1e-14)


def test_adam_step():
    p, grads = random_steps()
    lr, b1, b2, eps = 0.01, 0.8, 0.99, 1e-7
    opt, expected = optimizers.Adam(p, lr, b1, b2, eps), p.copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        # the textbook form, with epsilon applied to the corrected second moment as folded in
        expected = expected - lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
        opt.update(p, g.copy())
        assert np.allclose(m_hat * (1 - b1 ** t), opt.m) and np.allclose(v_hat * (1 - b2 ** t), opt.v)
    assert np.allclose(p, expected, rtol=0, atol=1e-14)


def test_invscaling_schedule():
    opt = optimizers.GD(np.zeros(1), 0.1)
    schedule = optimizers.InvScaling(0.1, power_t=0.5)
    for t in (1, 4, 100):
        schedule.on_step(opt, t)
        assert opt.learning_rate == pytest.approx(0.1 / t ** 0.5)


def test_reduce_on_plateau_schedule():
    opt = optimizers.GD(np.zeros(1), 1.0)
    schedule = optimizers.ReduceOnPlateau(factor=0.5, patience=2, tol=0.01)
    for loss in (10.0, 9.0, 8.95, 8.94):  # 8.95 and 8.94 improve by < 1%: two bad checks
        schedule.on_check(opt, loss)
    assert opt.learning_rate == 0.5
    for loss in (8.0, 7.99, 7.99):  # an improvement resets; then two bad checks again
        schedule.on_check(opt, loss)
    assert opt.learning_rate == 0.25
