import numpy as np
import pytest

from nn import Network, TrainConfig, TrainingDiverged, train
from nn.data import quadratic


def reference_run(seed, init="he"):
    X, Y = quadratic(seed=seed)
    net = Network(1, [10, 10], 1, seed=seed, init=init)
    return net, train(net, X, Y, config=TrainConfig.reference())


def test_reference_experiment_reaches_the_noise_floor():
    net, result = reference_run(seed=0)
    assert result.iterations == 10000 and result.stopped == "completed"
    assert 1.2 <= result.loss <= 2.6
    X, Y = quadratic(seed=0)
    assert result.loss == pytest.approx(net.loss(X, Y))  # raw units, nothing scaled
    assert len(result.history) <= 201 and result.history[-1][0] == 10000


def test_default_settings_converge_on_every_seed():
    losses = []
    for seed in range(20):
        X, Y = quadratic(seed=seed)
        net = Network(1, [10, 10], 1, seed=seed)
        result = train(net, X, Y, seed=seed)
        losses.append(result.loss)
    assert max(losses) < 2.6, losses


def test_same_seed_is_bit_identical_with_shuffling_and_validation():
    X, Y = quadratic(n_samples=300, seed=4)

    def run():
        net = Network(1, [8, 8], 1, seed=11)
        result = train(net, X, Y, seed=11, batch_size=32, validation_fraction=0.2, iterations=600)
        return net, result

    (a, ra), (b, rb) = run(), run()
    assert np.array_equal(a.params, b.params)
    assert ra.history == rb.history and ra.val_history == rb.val_history
    net = Network(1, [8, 8], 1, seed=11)
    train(net, X, Y, seed=12, batch_size=32, validation_fraction=0.2, iterations=600)
    assert not np.array_equal(a.params, net.params)


def test_callback_runs_at_least_every_percent_and_can_stop():
    X, Y = quadratic(seed=0)
    seen = []
    train(Network(1, [4], 1, seed=0), X, Y, iterations=1000, patience=None,
          callback=lambda i, loss: seen.append(i))
    assert np.diff([0, *seen]).max() <= 10 and seen[-1] == 1000  # 1% of 1000 updates

    calls = []
    result = train(Network(1, [4], 1, seed=0), X, Y, iterations=1000, patience=None,
                   callback=lambda i, loss: calls.append(i) or len(calls) == 3)
    assert result.stopped == "callback" and result.iterations == calls[-1]


def test_losses_are_reported_in_raw_target_units():
    X, Y = quadratic(seed=0)
    results = {}
    for scale in (1.0, 100.0):
        net = Network(1, [10, 10], 1, seed=0)
        results[scale] = train(net, X, Y * scale, seed=0, validation_fraction=0.0, patience=None)
        assert results[scale].loss == pytest.approx(net.loss((X - net.x_mean) / net.x_scale,
                                                             (Y * scale - net.y_mean) / net.y_scale)
                                                    * net.y_scale[0] ** 2)
    # standardisation makes the fit scale-free: the raw loss scales with the square
    assert results[100.0].loss == pytest.approx(results[1.0].loss * 100 ** 2, rel=1e-6)
    assert results[100.0].history[-1][1] == pytest.approx(results[1.0].history[-1][1] * 1e4, rel=1e-6)


def test_divergence_raises_an_actionable_error():
    X, Y = quadratic(seed=0)
    with pytest.raises(TrainingDiverged, match="learning_rate"):
        train(Network(1, [10, 10], 1, seed=0), X, Y * 1e3, config=TrainConfig.reference(learning_rate=5.0))


def test_collapsed_network_is_reported():
    X, Y = quadratic(seed=0)
    net = Network(1, [5], 1, seed=0)
    net.b[0][...] = -100.0  # every ReLU unit dead from the start: nothing can learn
    result = train(net, X, Y, config=TrainConfig.reference(iterations=50))
    assert result.diagnostics["constant_output"] is True
    assert result.diagnostics["constant_units"] == [5]
    assert "collapsed" in result.diagnostics["warning"]


def test_early_stopping_restores_the_best_validation_weights():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (60, 1))
    Y = np.sin(3 * X) + rng.normal(0, 0.5, X.shape)  # small and noisy: overfits
    net = Network(1, [64, 64], 1, seed=0)
    result = train(net, X, Y, seed=0, iterations=20000, learning_rate=0.01, alpha=0.0,
                   validation_fraction=0.3, patience=5, batch_size=None)
    assert result.stopped == "early_stopping" and result.iterations < 20000
    best = min(loss for _, loss in result.val_history)
    assert result.val_loss == pytest.approx(best)
    assert result.best_iteration == min(result.val_history, key=lambda p: p[1])[0]


def test_multi_output_regression():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    Y = np.column_stack([X[:, 0] * 2, X[:, 1] ** 2 * 100, X[:, 2] - 5])
    net = Network(3, [16, 16], 3, seed=0)
    result = train(net, X, Y, seed=0, iterations=3000, validation_fraction=0.0, patience=None)
    assert net.predict(X).shape == (200, 3)
    residual = net.predict(X) - Y
    assert result.loss == pytest.approx((residual ** 2).sum() / (2 * 200), rel=1e-6)
    assert (residual ** 2).mean(axis=0)[0] < 0.05 * Y[:, 0].var()


def test_mini_batches_count_updates_not_epochs():
    X, Y = quadratic(n_samples=100, seed=0)
    result = train(Network(1, [4], 1, seed=0), X, Y, iterations=30, batch_size=40,
                   validation_fraction=0.0, patience=None, seed=0)
    assert result.iterations == 30 and result.epochs == pytest.approx(10.0)  # 3 batches per epoch


def test_float32_training_matches_float64_closely():
    X, Y = quadratic(seed=0)
    losses = {}
    for dtype in ("float64", "float32"):
        net = Network(1, [10, 10], 1, seed=0, dtype=dtype)
        losses[dtype] = train(net, X, Y, seed=0, iterations=2000, patience=None).loss
    assert losses["float32"] == pytest.approx(losses["float64"], rel=0.02)


def test_gradient_clipping_bounds_the_step():
    X, Y = quadratic(seed=0)
    net = Network(1, [10], 1, seed=0)
    before = net.params.copy()
    train(net, X, Y * 1e3, config=TrainConfig.reference(iterations=1, clip_norm=0.5, learning_rate=0.1))
    assert np.linalg.norm(net.params - before) == pytest.approx(0.05)


@pytest.mark.parametrize("optimizer", ["gd", "sgd", "adam"])
@pytest.mark.parametrize("schedule", ["constant", "invscaling", "plateau"])
def test_every_optimizer_and_schedule_learns(optimizer, schedule):
    X, Y = quadratic(seed=0)
    net = Network(1, [10, 10], 1, seed=0)
    result = train(net, X, Y, seed=0, optimizer=optimizer, lr_schedule=schedule, iterations=3000,
                   learning_rate=0.01 if optimizer == "adam" else 0.05, validation_fraction=0.0, patience=None)
    assert result.loss < 3.0, result.loss  # Y varies by ~9 about its mean: this is learning


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="validation_fraction"):
        TrainConfig(validation_fraction=1.0)
    X, Y = quadratic(seed=0)
    with pytest.raises(ValueError, match="NaN"):
        train(Network(1, [2], 1), X * np.nan, Y)


def test_extreme_but_valid_settings_do_not_crash():
    X, Y = quadratic(n_samples=50, seed=0)
    result = train(Network(1, [4], 1, seed=1), X, Y, iterations=50, lr_schedule="invscaling", power_t=1000.0)
    assert np.isfinite(result.loss)


def test_losses_near_the_float64_limit_fail_cleanly_or_stay_finite():
    X = np.array([[0.0], [1.0]])
    Y = np.array([[7e153], [7e153]])
    net = Network(1, [1], 1, seed=0)
    try:
        result = train(net, X, Y, config=TrainConfig.reference(learning_rate=1e-300, iterations=2000))
    except TrainingDiverged as exc:
        assert "float" in str(exc) or "non-finite" in str(exc)
    else:
        assert all(np.isfinite(loss) for _, loss in result.history) and np.isfinite(result.loss)


def test_stopping_before_the_first_check_keeps_the_current_weights(monkeypatch):
    from nn import trainer
    monkeypatch.setattr(trainer, "CALLBACK_SECONDS", 0.0)  # a timed call after every update
    X, Y = quadratic(seed=0)
    net = Network(1, [8], 1, seed=0)
    result = train(net, X, Y, seed=0, iterations=100_000, validation_fraction=0.2,
                   callback=lambda i, loss: True)  # the very first call stops it
    assert result.stopped == "callback" and result.iterations == 1
    assert result.loss is None and result.best_iteration is None
    assert np.isfinite(net.params).all() and np.abs(net.params).max() < 10
