import numpy as np
import pytest

from nn import Network, train
from nn import io as nn_io
from nn.data import quadratic


def test_quadratic_shapes_spacing_and_noise():
    X, Y = quadratic(seed=0)
    assert X.shape == (200, 1) and Y.shape == (200, 1)
    assert X[0, 0] == -3.0 and X[-1, 0] == 3.0
    assert np.allclose(np.diff(X[:, 0]), 6 / 199)
    noise = Y[:, 0] - (X[:, 0] ** 2 - 2)
    assert 1.6 < noise.std() < 2.4
    X2, Y2 = quadratic(seed=0)
    assert np.array_equal(Y, Y2)
    _, clean = quadratic(n_samples=5, noise_std=0.0)
    assert np.allclose(clean[:, 0], np.linspace(-3, 3, 5) ** 2 - 2)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_save_load_round_trip_is_bit_identical(tmp_path, dtype):
    X, Y = quadratic(seed=1)
    net = Network(1, [10, 10], 1, seed=0, dtype=dtype, activation="tanh")
    train(net, X, Y, iterations=200, seed=0)  # fits standardisation too
    path = tmp_path / "net.npz"
    nn_io.save(path, net, {"note": "hello"})
    loaded, metadata = nn_io.load(path)
    assert metadata == {"note": "hello"}
    assert loaded.sizes == net.sizes and loaded.activation.name == "tanh" and loaded.dtype == net.dtype
    assert np.array_equal(loaded.predict(X), net.predict(X))
    with np.load(path, allow_pickle=False) as npz:
        assert {"W0", "b0", "W1", "b1", "W2", "b2"} <= set(npz.files)


def test_load_refuses_pickles_and_garbage(tmp_path):
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, meta=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(nn_io.FormatError):
        nn_io.load(pickled)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(nn_io.FormatError):
        nn_io.load(garbage)
    good = tmp_path / "good.npz"
    nn_io.save(good, Network(1, [2], 1, seed=0))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(nn_io.FormatError):
        nn_io.load(truncated)


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    nn_io.atomic_write(tmp_path / "a", b"one")
    nn_io.atomic_write(tmp_path / "a", b"two")
    assert (tmp_path / "a").read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]
