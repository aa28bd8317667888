import numpy as np
import pytest

from nn import Network
from nn.activations import ACTIVATIONS


def numeric_gradient(net, X, Y, alpha, h=1e-5):
    grad = np.zeros_like(net.params)
    for i in range(net.params.size):
        old = net.params[i]
        net.params[i] = old + h
        plus = net.loss(X, Y, alpha)
        net.params[i] = old - h
        minus = net.loss(X, Y, alpha)
        net.params[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def relative_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_gradients_match_central_differences_for_every_layer(activation, alpha):
    rng = np.random.default_rng(7)
    net = Network(3, [6, 5], 2, activation=activation, init="he", seed=1)
    net.params += rng.normal(0, 0.1, net.params.size)  # non-zero biases too
    X, Y = rng.normal(size=(11, 3)), rng.normal(size=(11, 2))

    dW, db, loss = net.gradients(X, Y, alpha=alpha)

    assert loss == pytest.approx(net.loss(X, Y, alpha), rel=1e-12)
    numeric = net._split(numeric_gradient(net, X, Y, alpha))
    for layer, (w, b) in enumerate(zip(dW, db)):
        analytic = np.vstack([w, b])
        assert relative_error(analytic, numeric[layer]) < 1e-6, f"layer {layer}"


def test_reference_network_gradient_check():
    rng = np.random.default_rng(0)
    net = Network(1, [10, 10], 1, seed=3)  # He init, the default
    X = np.linspace(-3, 3, 20).reshape(-1, 1)
    Y = X ** 2 - 2 + rng.normal(0, 2, X.shape)
    dW, db, _ = net.gradients(X, Y)
    numeric = net._split(numeric_gradient(net, X, Y, 0.0))
    for layer in range(3):
        assert relative_error(np.vstack([dW[layer], db[layer]]), numeric[layer]) < 1e-6


@pytest.mark.parametrize("hidden", [[], [4], [5, 3, 2]])
@pytest.mark.parametrize("n_out", [1, 3])
def test_shapes(hidden, n_out):
    net = Network(2, hidden, n_out, seed=0)
    sizes = [2, *hidden, n_out]
    assert [w.shape for w in net.W] == list(zip(sizes[:-1], sizes[1:]))
    assert [b.shape for b in net.b] == [(1, n) for n in sizes[1:]]
    assert all(np.all(b == 0) for b in net.b)
    X, Y = np.ones((7, 2)), np.ones((7, n_out))
    assert net.forward(X).shape == (7, n_out)
    assert net.predict(X).shape == (7, n_out)
    dW, db, loss = net.gradients(X, Y)
    assert [g.shape for g in dW] == [w.shape for w in net.W]
    assert [g.shape for g in db] == [b.shape for b in net.b]
    assert np.isfinite(loss)


def test_weights_and_biases_are_views_of_one_parameter_vector():
    net = Network(2, [3], 1, seed=0)
    net.W[0][0, 0] = 42.0
    net.b[1][0, 0] = -7.0
    assert 42.0 in net.params and -7.0 in net.params
    assert net.n_params == (2 + 1) * 3 + (3 + 1) * 1


def test_loss_is_sum_of_squared_errors_over_2m():
    net = Network(1, [], 2, seed=0)  # linear: output = X @ W + b
    X = np.array([[1.0], [2.0], [3.0]])
    Y = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    residual = X @ net.W[0] + net.b[0] - Y
    assert net.loss(X, Y) == pytest.approx((residual ** 2).sum() / (2 * 3))


@pytest.mark.parametrize("init,check", [
    ("seed", lambda w, fan_in, fan_out: abs(w.std() - 0.01) < 0.001),
    ("he", lambda w, fan_in, fan_out: abs(w.std() - np.sqrt(2 / fan_in)) < 0.05 * np.sqrt(2 / fan_in)),
    ("glorot", lambda w, fan_in, fan_out: np.abs(w).max() <= np.sqrt(6 / (fan_in + fan_out))),
])
def test_initialisers(init, check):
    net = Network(400, [300], 1, init=init, seed=0)
    assert check(net.W[0], 400, 300)
    assert np.all(net.b[0] == 0)


def test_default_init_is_he_for_relu_and_glorot_otherwise():
    assert Network(1, [3], 1).init == "he"
    assert Network(1, [3], 1, activation="tanh").init == "glorot"


def test_same_seed_same_weights_and_no_global_random_state():
    np.random.seed(1)
    a = Network(3, [8, 8], 2, seed=5)
    np.random.seed(2)
    b = Network(3, [8, 8], 2, seed=5)
    assert np.array_equal(a.params, b.params)
    assert not np.array_equal(a.params, Network(3, [8, 8], 2, seed=6).params)


def test_sigmoid_is_stable_for_huge_inputs():
    out = np.empty(4)
    ACTIVATIONS["sigmoid"].forward(np.array([-1e308, -800.0, 800.0, 1e308]), out)
    assert np.array_equal(out, [0.0, 0.0, 1.0, 1.0])


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_rejects_bad_layer_sizes(bad):
    with pytest.raises(ValueError):
        Network(1, [bad], 1)


def test_float32_network_computes_in_float32():
    net = Network(2, [4], 1, dtype="float32", seed=0)
    assert net.params.dtype == np.float32
    assert net.forward(np.ones((3, 2))).dtype == np.float32
    assert net.predict(np.ones((3, 2))).dtype == np.float64  # raw units out as float64


def test_forward_in_chunks_matches_one_pass():
    rng = np.random.default_rng(3)
    net = Network(3, [7, 5], 2, seed=0)
    X = rng.normal(size=(1000, 3))
    whole = net.forward(X)
    assert np.allclose(net.forward(X, max_elements=7 * 33), whole, rtol=0, atol=1e-12)
    assert whole.shape == (1000, 2)
