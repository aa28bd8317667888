"""Optimizers and learning-rate schedules, keyed by name.

An optimizer owns its state (created with ``zeros_like`` at construction) and has one verb,
``update(params, grad)``, which moves the flat parameter vector in place. ``grad`` is the
optimizer's to use as scratch: its contents are undefined afterwards.

A schedule adjusts ``optimizer.learning_rate``: ``on_step`` before every update,
``on_check`` at every checkpoint of the training loop with the monitored loss.
"""
import math

import numpy as np


class GD:
    """Plain gradient descent: p <- p - lr * g."""

    name = "gd"

    def __init__(self, params, learning_rate):
        self.learning_rate = learning_rate

    def update(self, params, grad):
        np.multiply(grad, -self.learning_rate, out=grad)
        np.add(params, grad, out=params)


class SGD:
    """Gradient descent with momentum, optionally Nesterov's (the formulation scikit-learn uses):

    v <- mu * v - lr * g;  p <- p + v             (classical)
    v <- mu * v - lr * g;  p <- p + mu * v - lr * g  (Nesterov)
    """

    name = "sgd"

    def __init__(self, params, learning_rate, momentum=0.9, nesterov=True):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocity = np.zeros_like(params)
        self._tmp = np.zeros_like(params) if nesterov else None

    def update(self, params, grad):
        v, mu = self.velocity, self.momentum
        np.multiply(grad, -self.learning_rate, out=grad)  # -lr * g
        np.multiply(v, mu, out=v)
        np.add(v, grad, out=v)
        if self.nesterov:
            np.multiply(v, mu, out=self._tmp)
            np.add(grad, self._tmp, out=grad)
            np.add(params, grad, out=params)
        else:
            np.add(params, v, out=params)


class Adam:
    """Adam (Kingma & Ba, 2015) with the bias correction folded into the step size:

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
    p <- p - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
    """

    name = "adam"

    def __init__(self, params, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.learning_rate = learning_rate
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.t = 0
        self.m = np.zeros_like(params)
        self.v = np.zeros_like(params)
        self._tmp = np.zeros_like(params)

    def update(self, params, grad):
        b1, b2, tmp = self.beta1, self.beta2, self._tmp
        self.t += 1
        np.multiply(self.m, b1, out=self.m)
        np.multiply(grad, 1 - b1, out=tmp)
        np.add(self.m, tmp, out=self.m)
        np.multiply(grad, grad, out=grad)
        np.multiply(grad, 1 - b2, out=grad)
        np.multiply(self.v, b2, out=self.v)
        np.add(self.v, grad, out=self.v)
        step = self.learning_rate * math.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        np.sqrt(self.v, out=tmp)
        np.add(tmp, self.epsilon, out=tmp)
        np.divide(self.m, tmp, out=tmp)
        np.multiply(tmp, -step, out=tmp)
        np.add(params, tmp, out=params)


OPTIMIZERS = {"gd": GD, "sgd": SGD, "adam": Adam}


class Constant:
    name = "constant"

    def on_step(self, optimizer, t):
        pass

    def on_check(self, optimizer, loss):
        pass


class InvScaling:
    """lr_t = lr_0 / t^power_t, t = 1, 2, ... the update number."""

    name = "invscaling"

    def __init__(self, learning_rate, power_t=0.5):
        self.initial = learning_rate
        self.power_t = power_t

    def on_step(self, optimizer, t):
        optimizer.learning_rate = self.initial * float(t) ** -self.power_t  # underflows to 0, never overflows

    def on_check(self, optimizer, loss):
        pass


class ReduceOnPlateau:
    """Multiply the learning rate by ``factor`` once the monitored loss has not improved on its
    best by a relative ``tol`` for ``patience`` consecutive checks (then start counting anew)."""

    name = "plateau"

    def __init__(self, factor=0.2, patience=10, tol=1e-4, min_learning_rate=1e-8):
        self.factor, self.patience, self.tol = factor, patience, tol
        self.min_learning_rate = min_learning_rate
        self.best = math.inf
        self.bad_checks = 0

    def on_step(self, optimizer, t):
        pass

    def on_check(self, optimizer, loss):
        if loss < self.best - self.tol * abs(self.best) or self.best == math.inf:
            self.best, self.bad_checks = loss, 0
            return
        self.bad_checks += 1
        if self.bad_checks >= self.patience:
            lr = optimizer.learning_rate  # lower, down to min_learning_rate, and never raised
            optimizer.learning_rate = min(lr, max(lr * self.factor, self.min_learning_rate))
            self.bad_checks = 0


SCHEDULES = ("constant", "invscaling", "plateau")
