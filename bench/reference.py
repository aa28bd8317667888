"""The reference algorithm written the way a tutorial writes it: an independent baseline.

Plain full-batch gradient descent on a fully connected network with ReLU hidden layers and a
linear output, loss = sum of squared errors / 2m. One weight matrix ``W`` (fan_in, fan_out) and
one bias row ``b`` (1, fan_out) per layer; every step allocates its activations, masks and
gradients afresh. Deliberately not optimised: it is the yardstick ``nn`` is measured against.
"""
import numpy as np


def relu(Z):
    return np.maximum(Z, 0)


def forward(X, weights, biases):
    """Return the pre-activations Zs and the activations As (As[0] is X, As[-1] the output)."""
    As, Zs = [X], []
    for l, (W, b) in enumerate(zip(weights, biases)):
        Z = As[-1] @ W + b
        Zs.append(Z)
        As.append(Z if l == len(weights) - 1 else relu(Z))  # linear output layer
    return Zs, As


def backward(Y, weights, Zs, As):
    """Return the loss and the gradients (dWs, dbs) of SSE / 2m by backpropagation."""
    m = Y.shape[0]
    error = As[-1] - Y
    loss = np.sum(error ** 2) / (2 * m)
    delta = error / m  # dLoss/dZ of the output layer
    dWs, dbs = [None] * len(weights), [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        dWs[l] = As[l].T @ delta
        dbs[l] = np.sum(delta, axis=0, keepdims=True)
        if l > 0:
            delta = (delta @ weights[l].T) * (Zs[l - 1] > 0)
    return loss, dWs, dbs


def train(X, Y, weights, biases, learning_rate=0.01, steps=10000):
    """Run ``steps`` gradient-descent steps from copies of the given parameters.

    Returns the trained ``(weights, biases)`` and the loss before the last step.
    """
    weights = [W.copy() for W in weights]
    biases = [b.copy() for b in biases]
    loss = None
    for _ in range(steps):
        Zs, As = forward(X, weights, biases)
        loss, dWs, dbs = backward(Y, weights, Zs, As)
        for l in range(len(weights)):
            weights[l] -= learning_rate * dWs[l]
            biases[l] -= learning_rate * dbs[l]
    return weights, biases, loss
