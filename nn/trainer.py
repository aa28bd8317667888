"""The training loop: (mini-)batches, optimizers, schedules, L2, clipping, standardisation,
validation split, early stopping, divergence detection and a progress callback.

Budget: ``iterations`` counts parameter updates (gradient steps), whatever the batch size. With
full batches one update is one epoch, as in the reference experiment.

Checks: every ``ceil(iterations / 200)`` updates (and after the last one) the loop records a
point of the loss history, evaluates the validation loss, applies early stopping and the
plateau schedule, and calls the callback. ``patience`` is counted in checks.

Reported losses (history, ``loss``, ``val_loss``, what the callback receives) are always in the
units of the raw targets: the sum of squared errors / 2m on the unscaled Y, without the L2
term, whatever scaling happens inside. A history point is the mean loss of the updates since
the previous point.
"""
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import optimizers
from .network import Workspace

HISTORY_POINTS = 200
CALLBACK_SECONDS = 0.2  # the callback also runs at least this often, so cancelling is prompt


def validation_rows(m, fraction):
    """Rows held out for validation out of ``m``: at least one when asked, never all."""
    if not fraction:
        return 0
    return min(max(int(round(fraction * m)), 1), m - 1)


def check_interval(iterations):
    """Updates between two checks (history points) in a run of ``iterations`` updates."""
    return max(1, math.ceil(iterations / HISTORY_POINTS))


class TrainingDiverged(ArithmeticError):
    """The loss or the weights became non-finite. The message says what to change."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train. The defaults suit raw, unscaled data; ``TrainConfig.reference()`` is the
    reference recipe (plain full-batch gradient descent, lr 0.01, no scaling)."""

    iterations: int = 10000  # number of parameter updates (gradient steps), not epochs
    learning_rate: float = 0.001  # initial step size
    optimizer: str = "adam"  # gd | sgd | adam
    momentum: float = 0.9  # sgd only
    nesterov: bool = True  # sgd only
    beta1: float = 0.9  # adam only
    beta2: float = 0.999  # adam only
    epsilon: float = 1e-8  # adam only
    lr_schedule: str = "constant"  # constant | invscaling | plateau
    power_t: float = 0.5  # invscaling: lr_t = lr / t^power_t
    lr_factor: float = 0.2  # plateau: multiply lr by this ...
    lr_patience: int = 10  # ... after this many checks without improvement
    batch_size: Optional[int] = 200  # rows per update; None = full batch; capped at the row count
    alpha: float = 3.0  # L2 strength: loss += alpha / 2m * sum(W^2) (scaled units)
    clip_norm: Optional[float] = None  # rescale the gradient to at most this L2 norm; None = off
    standardize: bool = True  # scale inputs and targets to zero mean, unit variance
    validation_fraction: float = 0.2  # share of rows held out to monitor (and restore the best)
    patience: Optional[int] = 20  # stop after this many checks without improvement; None = never
    tol: float = 1e-4  # relative improvement that counts for patience and plateau
    seed: Optional[int] = None  # seeds the validation split and the shuffling

    def __post_init__(self):
        def need(ok, message):
            if not ok:
                raise ValueError(message)

        need(isinstance(self.iterations, int) and self.iterations >= 1, "iterations must be an integer >= 1")
        need(self.learning_rate > 0 and math.isfinite(self.learning_rate), "learning_rate must be > 0")
        need(self.optimizer in optimizers.OPTIMIZERS, f"optimizer must be one of {sorted(optimizers.OPTIMIZERS)}")
        need(self.lr_schedule in optimizers.SCHEDULES, f"lr_schedule must be one of {list(optimizers.SCHEDULES)}")
        need(0 <= self.momentum < 1, "momentum must be in [0, 1)")
        need(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "beta1 and beta2 must be in [0, 1)")
        need(self.epsilon > 0, "epsilon must be > 0")
        need(self.power_t >= 0, "power_t must be >= 0")
        need(0 < self.lr_factor < 1, "lr_factor must be in (0, 1)")
        need(self.lr_patience >= 1, "lr_patience must be >= 1")
        need(self.batch_size is None or self.batch_size >= 1, "batch_size must be >= 1 or None")
        need(self.alpha >= 0, "alpha must be >= 0")
        need(self.clip_norm is None or self.clip_norm > 0, "clip_norm must be > 0 or None")
        need(0 <= self.validation_fraction < 1, "validation_fraction must be in [0, 1)")
        need(self.patience is None or self.patience >= 1, "patience must be >= 1 or None")
        need(self.tol >= 0, "tol must be >= 0")

    @classmethod
    def reference(cls, **overrides):
        """The reference recipe: full-batch gradient descent, lr 0.01, raw data, no extras."""
        settings = dict(optimizer="gd", learning_rate=0.01, batch_size=None, alpha=0.0,
                        standardize=False, validation_fraction=0.0, patience=None)
        settings.update(overrides)
        return cls(**settings)


TRAINING_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))


@dataclass
class TrainResult:
    history: list  # [(iteration, training loss)] at the checks
    val_history: list  # [(iteration, validation loss)]; empty without a validation split
    loss: Optional[float]  # final training loss (raw units) of the returned weights; None if
    #                        the callback stopped training (no final evaluation then)
    val_loss: Optional[float]  # final validation loss of the returned weights
    iterations: int  # updates performed
    epochs: float  # passes over the training rows
    stopped: str  # "completed" | "early_stopping" | "callback"
    best_iteration: Optional[int]  # the checkpoint whose weights were kept (validation only)
    learning_rate: float  # the learning rate at the end
    n_train: int
    n_validation: int
    diagnostics: dict = field(default_factory=dict)


def _as_2d(a, name):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2 or a.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _fit_scaling(network, X, Y, standardize):
    if standardize:
        network.x_mean, network.x_scale = X.mean(axis=0), X.std(axis=0)
        network.y_mean, network.y_scale = Y.mean(axis=0), Y.std(axis=0)
        network.x_scale[network.x_scale == 0] = 1.0  # constant columns pass through centred
        network.y_scale[network.y_scale == 0] = 1.0
    else:
        network.x_mean, network.x_scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
        network.y_mean, network.y_scale = np.zeros(Y.shape[1]), np.ones(Y.shape[1])


def _inputs(network, X):
    """Scaled inputs, features x samples, with the trailing row of ones: (n_in + 1, m)."""
    out = np.empty((X.shape[1] + 1, len(X)), network.dtype)
    out[:-1] = ((X - network.x_mean) / network.x_scale).T
    out[-1] = 1
    return out


def _targets(network, Y):
    """Scaled targets, outputs x samples: (n_out, m)."""
    return np.ascontiguousarray(((Y - network.y_mean) / network.y_scale).T, dtype=network.dtype)


def _make_optimizer(cfg, params):
    if cfg.optimizer == "sgd":
        return optimizers.SGD(params, cfg.learning_rate, cfg.momentum, cfg.nesterov)
    if cfg.optimizer == "adam":
        return optimizers.Adam(params, cfg.learning_rate, cfg.beta1, cfg.beta2, cfg.epsilon)
    return optimizers.GD(params, cfg.learning_rate)


def _make_schedule(cfg):
    if cfg.lr_schedule == "invscaling":
        return optimizers.InvScaling(cfg.learning_rate, cfg.power_t)
    if cfg.lr_schedule == "plateau":
        return optimizers.ReduceOnPlateau(cfg.lr_factor, cfg.lr_patience, cfg.tol)
    return optimizers.Constant()


def _diverged(t, cfg, dtype):
    hints = ["lower learning_rate (now %g)" % cfg.learning_rate]
    if dtype == np.float32:
        hints.append("use dtype float64 (float32 ends at 3.4e38)")
    if not cfg.standardize:
        hints.append("turn standardize on")
    if cfg.clip_norm is None:
        hints.append("set clip_norm (for example 1.0)")
    return TrainingDiverged(f"training diverged: the loss became non-finite at iteration {t}; "
                            + ", ".join(hints))


class _Evaluator:
    """Raw-unit data loss of the current weights on a fixed set of rows, without allocating."""

    def __init__(self, network, inputs, targets, weights, workspace=None):
        self.network, self.targets, self.weights = network, targets, weights
        self.ws = workspace or Workspace(network, inputs.shape[1], inputs=inputs)

    def __call__(self):
        return self.loss_of(self.network._forward(self.ws))

    def loss_of(self, out):
        """The loss of an output just computed in this workspace (overwritten)."""
        np.subtract(out, self.targets, out=out)
        return self.network._weighted_sse(out, self.weights) / (2 * self.ws.m)


def _diagnostics(network, ws_all, out, Y_scaled):
    """Dead hidden units and a collapsed (constant) output, from a forward pass over the
    training rows (``out``, with the hidden outputs still in ``ws_all``)."""
    dead = [int(np.count_nonzero(np.ptp(h, axis=1) == 0)) for h in ws_all.hidden]
    spread = np.ptp(out, axis=1)
    target_spread = np.ptp(Y_scaled, axis=1)
    collapsed = bool(np.all(spread <= 1e-7 * np.maximum(target_spread, 1e-12)) and np.any(target_spread > 0))
    diag = {"constant_units": dead, "constant_output": collapsed}
    if collapsed:
        every_unit = dead and all(d == n for d, n in zip(dead, network.hidden_layer_sizes))
        diag["warning"] = ("The network collapsed to a constant output"
                           + (" (every hidden unit is constant)" if every_unit else "")
                           + ": it predicts the same value for every input. Try init he, standardize on, "
                             "or a smaller learning_rate.")
    return diag


def train(network, X, Y, *, callback=None, config=None, **settings):
    """Fit ``network`` to (X, Y) in place and return a ``TrainResult``.

    ``settings`` are ``TrainConfig`` fields overriding ``config`` (default ``TrainConfig()``).
    ``callback(iteration, loss)`` runs at every check and at least every 0.2 s; returning
    ``True`` stops training (``stopped == "callback"``). Raises ``TrainingDiverged`` when the
    loss or the weights become non-finite.
    """
    cfg = dataclasses.replace(config or TrainConfig(), **settings)
    X, Y = _as_2d(X, "X"), _as_2d(Y, "Y")
    if len(X) != len(Y):
        raise ValueError(f"X has {len(X)} rows but Y has {len(Y)}")
    if X.shape[1] != network.input_size or Y.shape[1] != network.output_size:
        raise ValueError(f"data is {X.shape[1]} -> {Y.shape[1]} columns, the network is "
                         f"{network.input_size} -> {network.output_size}")

    split_rng, shuffle_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(2))
    m = len(X)
    n_val = validation_rows(m, cfg.validation_fraction)
    if n_val:
        order = split_rng.permutation(m)
        val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
        X_val, Y_val, X, Y = X[val_idx], Y[val_idx], X[train_idx], Y[train_idx]
    n_train = len(X)

    _fit_scaling(network, X, Y, cfg.standardize)
    loss_weights = network.y_scale ** 2  # scaled SSE -> raw SSE, per output column
    source = _inputs(network, X)  # (n_in + 1, n_train)
    targets_source = _targets(network, Y)  # (n_out, n_train)

    batch = n_train if cfg.batch_size is None else min(cfg.batch_size, n_train)
    full_batch = batch == n_train
    if full_batch:
        data, targets = source, targets_source
    else:  # reshuffled copies, rewritten in place every epoch
        data, targets = np.empty_like(source), np.empty_like(targets_source)
        order = np.arange(n_train)
    starts = list(range(0, n_train, batch))
    workspaces = {batch: Workspace(network, batch, inputs=data[:, :batch])}
    last = n_train - starts[-1]
    if last not in workspaces:
        workspaces[last] = Workspace(network, last, inputs=data[:, starts[-1]:])
    batches = []  # (workspace, input columns, target columns) per position in the epoch
    for s in starts:
        e = min(s + batch, n_train)
        batches.append((workspaces[e - s], data[:, s:e], targets[:, s:e]))

    validate = _Evaluator(network, _inputs(network, X_val), _targets(network, Y_val),
                          loss_weights) if n_val else None

    optimizer = _make_optimizer(cfg, network.params)
    schedule = _make_schedule(cfg)
    check_every = check_interval(cfg.iterations)
    alpha, clip = cfg.alpha, cfg.clip_norm
    params = network.params

    history, val_history = [], []
    best_loss, best_iteration, bad_checks = math.inf, None, 0
    best_params = params.copy() if n_val else None
    stopped = "completed"
    interval_mean, interval_n = 0.0, 0
    last_callback = time.monotonic()
    n_batches = len(batches)
    t = 0
    while t < cfg.iterations:
        position = t % n_batches
        if position == 0 and not full_batch:
            shuffle_rng.shuffle(order)
            np.take(source, order, axis=1, out=data)
            np.take(targets_source, order, axis=1, out=targets)
        ws, rows, target_rows = batches[position]
        ws.acts[0] = rows
        t += 1

        loss, penalty = network._loss_and_gradients(ws, target_rows, alpha, loss_weights)
        if not math.isfinite(loss + penalty):
            raise _diverged(t, cfg, network.dtype)
        if clip is not None:
            norm = math.sqrt(float(np.vdot(ws.grad, ws.grad)))
            if norm > clip:
                np.multiply(ws.grad, clip / norm, out=ws.grad)
        schedule.on_step(optimizer, t)
        optimizer.update(params, ws.grad)
        interval_n += 1
        interval_mean += (loss - interval_mean) / interval_n  # a running mean cannot overflow

        if t % check_every == 0 or t == cfg.iterations:
            point = interval_mean
            interval_mean, interval_n = 0.0, 0
            history.append((t, point))
            monitored = point
            if validate:
                monitored = validate()
                if not math.isfinite(monitored):
                    raise _diverged(t, cfg, network.dtype)
                val_history.append((t, monitored))
            schedule.on_check(optimizer, monitored)
            if monitored < best_loss - cfg.tol * abs(best_loss) or best_loss == math.inf:
                best_loss, bad_checks = monitored, 0
                if validate:
                    best_iteration = t
                    np.copyto(best_params, params)
            else:
                bad_checks += 1
            if cfg.patience is not None and bad_checks >= cfg.patience:
                stopped = "early_stopping"
                break
            if callback is not None and callback(t, point) is True:
                stopped = "callback"
                break
            last_callback = time.monotonic()
        elif callback is not None and time.monotonic() - last_callback >= CALLBACK_SECONDS:
            last_callback = time.monotonic()
            if callback(t, loss) is True:
                stopped = "callback"
                break

    if validate and best_iteration is not None:
        np.copyto(params, best_params)
    if not np.isfinite(params).all():
        raise _diverged(t, cfg, network.dtype)
    if stopped == "callback":  # the caller stopped it and wants nothing more: answer at once
        return TrainResult(history=history, val_history=val_history, loss=None, val_loss=None,
                           iterations=t, epochs=t / n_batches, stopped=stopped,
                           best_iteration=best_iteration, learning_rate=optimizer.learning_rate,
                           n_train=n_train, n_validation=n_val)

    # The final loss over all training rows (with full batches, in the workspace already there).
    everything = _Evaluator(network, source, targets_source, loss_weights,
                            workspaces[batch] if full_batch else None)
    out = network._forward(everything.ws)
    diagnostics = _diagnostics(network, everything.ws, out, targets_source)
    final_loss = everything.loss_of(out)
    val_loss = validate() if validate else None
    if not math.isfinite(final_loss) or (val_loss is not None and not math.isfinite(val_loss)):
        raise TrainingDiverged("the loss over all rows overflows a 64-bit float: the targets are too large "
                               "for their errors to be squared and summed; rescale them or turn "
                               "standardize on")
    return TrainResult(
        history=history, val_history=val_history, loss=final_loss,
        val_loss=val_loss, iterations=t, epochs=t / n_batches, stopped=stopped, best_iteration=best_iteration,
        learning_rate=optimizer.learning_rate, n_train=n_train, n_validation=n_val,
        diagnostics=diagnostics)
