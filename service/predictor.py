"""Predictions from stored models, with loaded networks cached per process.

A cached network is keyed by the weights file's identity (inode, size, mtime), so a model
deleted and replaced, or rewritten, is never served stale.
"""
import collections
import threading

import numpy as np

from .errors import ApiError
from .store import ID_PATTERN, Corrupt, NotFound, broken_record


class Predictor:
    def __init__(self, store, max_bytes=256 * 2 ** 20):
        self.store, self.max_bytes = store, max_bytes  # bytes of parameters kept loaded
        self._cache = collections.OrderedDict()
        self._lock = threading.Lock()

    def _network(self, record):
        model_id = record["id"]
        try:
            stamp = self.store.weights_stamp(model_id)
        except FileNotFoundError:
            raise Corrupt(f"the weights of model {model_id} are missing") from None
        with self._lock:
            hit = self._cache.get(model_id)
            if hit and hit[0] == stamp:
                self._cache.move_to_end(model_id)
                return hit[1]
        network, _ = self.store.load_network(model_id, record.get("weights_sha256"))
        arch = record.get("architecture") or {}
        expected = [arch.get("input_size"), *arch.get("hidden_layer_sizes", []), arch.get("output_size")]
        if list(network.sizes) != expected:
            raise Corrupt(f"the weights of model {model_id} are {list(network.sizes)}, "
                          f"its record says {expected}")
        with self._lock:
            self._cache[model_id] = (stamp, network)
            while len(self._cache) > 1 and sum(n.params.nbytes for _, n in self._cache.values()) > self.max_bytes:
                self._cache.popitem(last=False)
        return network

    def predict(self, model_id, X):
        record = read_record(self.store, model_id)
        if record.get("status") != "succeeded":
            raise ApiError(409, f"Model {model_id} is {record.get('status')}; only a succeeded model predicts.",
                           title="Model not ready")
        try:
            network = self._network(record)
        except Corrupt as exc:
            raise ApiError(409, f"Model {model_id} cannot predict: {exc}.", title="Model damaged")
        if X.shape[1] != network.input_size:
            hint = " (a flat list is one column: send rows, as [[x1, x2, ...], ...])" if X.shape[1] == 1 else ""
            raise ApiError(422, f"X has {X.shape[1]} columns but model {model_id} takes "
                                f"{network.input_size}{hint}.", title="Invalid request",
                           errors={"X": [f"Each row must have {_values(network.input_size)}, not {X.shape[1]}."]})
        with np.errstate(over="ignore", invalid="ignore"):
            predictions = network.predict(X)
        if not np.isfinite(predictions).all():
            row = int(np.argwhere(~np.isfinite(predictions))[0][0])
            raise ApiError(422, "Some inputs are so large that the predictions overflow.", title="Invalid request",
                           errors={"X": [f"[{row}]: the prediction for this row is not a finite number."]})
        return predictions


def _values(n):
    return f"{n} value" + ("" if n == 1 else "s")


def not_found(model_id):
    shown = repr(str(model_id)[:80])
    if not ID_PATTERN.fullmatch(str(model_id)):
        return ApiError(404, f"There is no model with id {shown}: ids are 32 lowercase hexadecimal "
                             "characters.", title="Model not found")
    return ApiError(404, f"There is no model with id {shown}.", title="Model not found")


def read_record(store, model_id):
    """The record of a model, or a 404 naming the id. A damaged record reads as failed."""
    try:
        return store.read(model_id)
    except NotFound:
        raise not_found(model_id)
    except Corrupt as exc:
        return broken_record(model_id, str(exc))
