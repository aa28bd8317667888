"""A fully connected feed-forward network: hidden activation of choice, linear output.

Parameters live in one flat vector, ``params``. Layer ``l`` owns a contiguous block of it
shaped ``(fan_in + 1, fan_out)``: its first ``fan_in`` rows are the weights ``W[l]`` and its
last row is the bias ``b[l]`` (shape ``(1, fan_out)``). Gradients use the same layout, so an
optimizer updates every parameter with a couple of whole-vector operations, and a layer's
weight and bias gradients come out of one matrix product: every activation buffer carries a
trailing row of ones (buffers are features x samples), so ``[[W], [b]]^T [A^T; 1] = (A W + b)^T``.

Loss: the sum of squared errors over all entries divided by 2m (m rows), plus, with L2
strength ``alpha``, ``alpha / (2m)`` times the sum of squared weights (biases are not
penalised).

The network also carries the standardisation of its inputs and targets (``x_mean``,
``x_scale``, ``y_mean``, ``y_scale``; identity unless a trainer fits them). ``forward``,
``loss`` and ``gradients`` work in the network's own, scaled units; ``predict`` takes and
returns raw values.
"""
import numpy as np

from . import activations, initializers

DTYPES = ("float64", "float32")


class Workspace:
    """Preallocated buffers for forward (and, with ``training``, backward) passes over ``m``
    samples.

    Buffers are laid out features x samples (the transpose of X), so that every activation
    and error signal is a contiguous block and the elementwise kernels run at full speed.
    ``acts[l]`` is the input of layer ``l`` with a trailing row of ones: ``acts[0]`` holds the
    batch (n_in + 1, m), ``acts[l + 1][:-1]`` the output of hidden layer ``l`` (its
    pre-activations first, turned into activations in place). ``out`` holds the network's
    output (n_out, m), then the error signal of the output layer. For training only: ``z[l]``
    holds hidden layer ``l``'s error signal dLoss/dZ during the backward pass, ``scratch[l]``
    the activation derivative's temporary, and ``grad`` mirrors ``Network.params``.
    """

    def __init__(self, network, m, inputs=None, training=True):
        dt = network.dtype
        hidden = network.sizes[1:-1]
        self.m = m
        if inputs is None:
            inputs = np.empty((network.sizes[0] + 1, m), dt)
            inputs[-1] = 1
        self.acts = [inputs]
        for n in hidden:
            a = np.empty((n + 1, m), dt)
            a[-1] = 1
            self.acts.append(a)
        self.hidden = [a[:-1] for a in self.acts[1:]]  # contiguous views: hidden outputs (n, m)
        self.out = np.empty((network.sizes[-1], m), dt)
        if not training:
            return
        self.z = [np.empty((n, m), dt) for n in hidden]
        scratch_dt = network.activation.scratch_dtype or dt
        self.scratch = [np.empty((n, m), scratch_dt) for n in hidden]
        self.grad = np.zeros_like(network.params)
        self.grad_layers = network._split(self.grad)
        self.penalty = np.empty_like(network.params)  # scratch for the L2 term

    def load(self, X):
        """Copy a batch X (m, n_in) into the input buffer (the ones row stays)."""
        np.copyto(self.acts[0][:-1], X.T)


class Network:
    def __init__(self, input_size, hidden_layer_sizes, output_size, *, activation="relu",
                 init=None, seed=None, dtype="float64"):
        sizes = (input_size, *hidden_layer_sizes, output_size)
        if any(not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1 for n in sizes):
            raise ValueError(f"layer sizes must be positive integers, got {list(sizes)}")
        if str(np.dtype(dtype)) not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        self.sizes = tuple(int(n) for n in sizes)
        self.dtype = np.dtype(dtype)
        self.activation = activations.get(activation)
        self.init = init if init is not None else initializers.default_for(activation)
        initializer = initializers.get(self.init)

        self.shapes = [(a + 1, b) for a, b in zip(self.sizes[:-1], self.sizes[1:])]
        self.params = np.zeros(sum(r * c for r, c in self.shapes), self.dtype)
        self.layers = self._split(self.params)  # (fan_in + 1, fan_out) views
        self.W = [layer[:-1] for layer in self.layers]  # (fan_in, fan_out) views
        self.b = [layer[-1:] for layer in self.layers]  # (1, fan_out) views
        self._layers_t = [layer.T for layer in self.layers]  # (fan_out, fan_in + 1) views
        # 1 where params holds a weight, 0 where it holds a bias: what L2 penalises.
        self.weight_mask = self._split_mask()

        rng = np.random.default_rng(seed)
        for w in self.W:
            w[...] = initializer(rng, *w.shape)

        self.x_mean = np.zeros(self.sizes[0])
        self.x_scale = np.ones(self.sizes[0])
        self.y_mean = np.zeros(self.sizes[-1])
        self.y_scale = np.ones(self.sizes[-1])

    # -- structure -------------------------------------------------------------------------

    @property
    def input_size(self):
        return self.sizes[0]

    @property
    def output_size(self):
        return self.sizes[-1]

    @property
    def hidden_layer_sizes(self):
        return list(self.sizes[1:-1])

    @property
    def n_params(self):
        return self.params.size

    def _split(self, flat):
        views, start = [], 0
        for rows, cols in self.shapes:
            views.append(flat[start:start + rows * cols].reshape(rows, cols))
            start += rows * cols
        return views

    def _split_mask(self):
        mask = np.ones_like(self.params)
        for layer in self._split(mask):
            layer[-1] = 0
        return mask

    def __repr__(self):
        return (f"Network({self.input_size}, {self.hidden_layer_sizes}, {self.output_size}, "
                f"activation={self.activation.name!r}, init={self.init!r}, dtype={self.dtype.name!r})")

    # -- kernels on a workspace ------------------------------------------------------------

    def _forward(self, ws):
        """Forward pass over ``ws.acts[0]``; returns ``ws.out`` (n_out, m)."""
        act = self.activation.forward
        acts, layers_t = ws.acts, self._layers_t
        for l, hidden in enumerate(ws.hidden):
            np.dot(layers_t[l], acts[l], out=hidden)  # (n_l, m) = [[W], [b]]^T [A; 1]
            act(hidden, hidden)  # in place: the pre-activations are never needed again
        np.dot(layers_t[-1], acts[-1], out=ws.out)  # linear output layer
        return ws.out

    def _backward(self, ws, delta):
        """Backpropagate dLoss/dOutput ``delta`` (n_out, m) into ``ws.grad``.

        Overwrites ``ws.z``; never computes the gradient with respect to the inputs.
        """
        backward = self.activation.backward
        acts, grads, W = ws.acts, ws.grad_layers, self.W
        for l in range(len(grads) - 1, 0, -1):
            np.dot(acts[l], delta.T, out=grads[l])  # (n_in_l + 1, n_out_l): dW and db at once
            prev = ws.z[l - 1]
            if delta.shape[0] == 1:  # one output: an outer product, faster as a broadcast
                np.multiply(W[l], delta, out=prev)
            else:
                np.dot(W[l], delta, out=prev)  # (n_in_l, m): dLoss/dA
            backward(ws.hidden[l - 1], prev, ws.scratch[l - 1])  # -> dLoss/dZ
            delta = prev
        np.dot(acts[0], delta.T, out=grads[0])

    def _add_l2(self, ws, coef):
        """Add ``coef * W`` to the weight gradients; return ``coef / 2 * sum(W^2)``."""
        np.multiply(self.params, self.weight_mask, out=ws.penalty)
        np.multiply(ws.penalty, coef, out=ws.penalty)
        np.add(ws.grad, ws.penalty, out=ws.grad)
        return 0.5 * float(np.vdot(ws.penalty, self.params))

    @staticmethod
    def _weighted_sse(residual, weights=None):
        """Sum of squared residuals (n_out, m), output j weighted by ``weights[j]``."""
        if weights is None:
            return float(np.vdot(residual, residual))
        if residual.shape[0] == 1:
            return float(np.vdot(residual, residual)) * float(weights[0])
        return float(np.einsum("ij,ij->i", residual, residual) @ weights)

    def _loss_and_gradients(self, ws, Y, alpha=0.0, loss_weights=None):
        """One forward and backward pass over the rows in ``ws``, gradients into ``ws.grad``.

        Returns the data loss (SSE / 2m, outputs weighted by ``loss_weights``) and the L2 term.
        """
        m = ws.m
        residual = self._forward(ws)
        np.subtract(residual, Y, out=residual)  # (n_out, m); Y is transposed too
        loss = self._weighted_sse(residual, loss_weights) / (2 * m)
        np.multiply(residual, 1.0 / m, out=residual)  # dLoss/dOutput
        self._backward(ws, residual)
        penalty = self._add_l2(ws, alpha / m) if alpha else 0.0
        return loss, penalty

    # -- public, allocating API ------------------------------------------------------------

    def _check_inputs(self, X):
        X = np.asarray(X, dtype=self.dtype)
        if X.ndim != 2 or X.shape[1] != self.input_size:
            raise ValueError(f"X must have shape (m, {self.input_size}), got {X.shape}")
        return X

    def _workspace_for(self, X):
        X = self._check_inputs(X)
        ws = Workspace(self, X.shape[0])
        ws.load(X)
        return ws

    def forward(self, X, max_elements=4_000_000):
        """Network output for (already scaled) inputs X (m, n_in); a new (m, n_out) array.

        Rows go through in chunks, so that no layer's buffer exceeds ``max_elements`` values
        however many rows there are: memory stays bounded, whatever is asked.
        """
        X = self._check_inputs(X)
        m = len(X)
        out = np.empty((m, self.output_size), self.dtype)
        chunk = max(1, max_elements // max(self.sizes))
        ws = None
        for start in range(0, m, chunk):
            part = X[start:start + chunk]
            if ws is None or ws.m != len(part):
                ws = Workspace(self, len(part), training=False)
            ws.load(part)
            out[start:start + len(part)] = self._forward(ws).T
        return out

    def loss(self, X, Y, alpha=0.0):
        """Sum of squared errors / 2m, plus the L2 term alpha / 2m * sum(W^2)."""
        m = len(X)
        residual = self.forward(X) - np.asarray(Y, dtype=self.dtype).reshape(m, -1)
        loss = float(np.vdot(residual, residual)) / (2 * m)
        if alpha:
            loss += alpha / (2 * m) * float(np.vdot(self.params * self.weight_mask, self.params))
        return loss

    def gradients(self, X, Y, alpha=0.0):
        """Backpropagation: returns ``(dW, db, loss)``, lists of per-layer arrays and a float."""
        ws = self._workspace_for(X)
        Y = np.asarray(Y, dtype=self.dtype).reshape(ws.m, -1)
        loss, penalty = self._loss_and_gradients(ws, np.ascontiguousarray(Y.T), alpha)
        loss += penalty
        grads = [g.copy() for g in ws.grad_layers]
        return [g[:-1] for g in grads], [g[-1:] for g in grads], loss

    def predict(self, X):
        """Predictions in raw target units for raw inputs X (m, n_in)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1 and self.input_size == 1:
            X = X.reshape(-1, 1)
        scaled = (X - self.x_mean) / self.x_scale
        out = self.forward(scaled).astype(np.float64)
        return out * self.y_scale + self.y_mean
