"""Hidden-layer activations, keyed by name.

Each activation is a pair of in-place kernels:

- ``forward(Z, out)`` writes f(Z) into ``out`` (which may be ``Z`` itself);
- ``backward(A, dA, scratch)`` multiplies ``dA`` in place by f'(Z), written in terms of the
  cached output ``A = f(Z)`` so the pre-activations never need to be kept.

The registry ``ACTIVATIONS`` is the one vocabulary shared by the network, the saved metadata,
the API schema and its error messages.
"""
import numpy as np


def _identity_forward(Z, out):
    if out is not Z:
        np.copyto(out, Z)


def _identity_backward(A, dA, scratch):
    pass  # f'(z) = 1


def _relu_forward(Z, out):
    np.maximum(Z, 0, out=out)


def _relu_backward(A, dA, scratch):
    # f'(z) = 1 where z > 0, which is exactly where A > 0. ``scratch`` is a boolean buffer.
    np.greater(A, 0, out=scratch)
    np.multiply(dA, scratch, out=dA)


def _tanh_forward(Z, out):
    np.tanh(Z, out=out)


def _tanh_backward(A, dA, scratch):
    # f'(z) = 1 - tanh(z)^2 = 1 - A^2
    np.multiply(A, A, out=scratch)
    np.subtract(1, scratch, out=scratch)
    np.multiply(dA, scratch, out=dA)


def _sigmoid_forward(Z, out):
    # sigmoid(z) = (1 + tanh(z / 2)) / 2: never overflows, unlike 1 / (1 + exp(-z)).
    np.multiply(Z, 0.5, out=out)
    np.tanh(out, out=out)
    np.multiply(out, 0.5, out=out)
    np.add(out, 0.5, out=out)


def _sigmoid_backward(A, dA, scratch):
    # f'(z) = A (1 - A)
    np.subtract(1, A, out=scratch)
    np.multiply(scratch, A, out=scratch)
    np.multiply(dA, scratch, out=dA)


class Activation:
    """A named activation: forward and backward kernels and the dtype its scratch buffer needs."""

    def __init__(self, name, forward, backward, scratch_dtype=None):
        self.name = name
        self.forward = forward
        self.backward = backward
        self.scratch_dtype = scratch_dtype  # None: the network's float dtype

    def __repr__(self):
        return f"Activation({self.name!r})"


ACTIVATIONS = {
    "relu": Activation("relu", _relu_forward, _relu_backward, scratch_dtype=bool),
    "tanh": Activation("tanh", _tanh_forward, _tanh_backward),
    "sigmoid": Activation("sigmoid", _sigmoid_forward, _sigmoid_backward),
    "identity": Activation("identity", _identity_forward, _identity_backward),
}


def get(name):
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None
