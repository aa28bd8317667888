"""Saving and loading networks: one ``.npz`` file, no pickle.

The file holds one array per layer (``W0``, ``b0``, ``W1``, ...), the standardisation
(``x_mean``, ``x_scale``, ``y_mean``, ``y_scale``) and ``meta``: a JSON string with what
rebuilds the architecture (``sizes``, ``activation``, ``init``, ``dtype``) and the caller's
metadata. It is read with ``allow_pickle=False``; arrays keep their dtype, so a round trip
gives bit-identical predictions.
"""
import io
import json
import zipfile
import os
import tempfile

import numpy as np

from .network import Network

FORMAT = "nn-service/network@1"
SCALING = ("x_mean", "x_scale", "y_mean", "y_scale")


class FormatError(ValueError):
    """The file is not a network this module wrote, or it is damaged."""


def atomic_write(path, data: bytes):
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half:
    a temporary file in the same directory, flushed to disk, then ``os.replace``."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(directory, os.O_RDONLY)  # make the rename itself durable
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def to_bytes(network, metadata=None):
    """The ``.npz`` image of a network, as bytes."""
    meta = {"format": FORMAT, "sizes": list(network.sizes), "activation": network.activation.name,
            "init": network.init, "dtype": network.dtype.name, "metadata": metadata or {}}
    arrays = {"meta": np.array(json.dumps(meta))}
    for l, (w, b) in enumerate(zip(network.W, network.b)):
        arrays[f"W{l}"], arrays[f"b{l}"] = w, b
    for name in SCALING:
        arrays[name] = getattr(network, name)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def save(path, network, metadata=None):
    """Save ``network`` (and a JSON-serialisable ``metadata`` dict) to ``path`` atomically."""
    atomic_write(path, to_bytes(network, metadata))


def load(path):
    """Load a network saved by ``save``; returns ``(network, metadata)``. Raises ``FormatError``."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise FormatError(f"unreadable network file: {exc}") from None
    try:
        meta = json.loads(str(arrays.pop("meta")))
        if not isinstance(meta, dict):
            raise FormatError("the metadata is not a JSON object")
        if meta.get("format") != FORMAT:
            raise FormatError(f"not a {FORMAT} file")
        sizes = [int(n) for n in meta["sizes"]]
        if len(sizes) < 2:
            raise FormatError(f"sizes {sizes} name no layers")
        network = Network(sizes[0], sizes[1:-1], sizes[-1], activation=meta["activation"],
                          init=meta["init"], dtype=meta["dtype"])
        for l in range(len(network.layers)):
            for name, target in ((f"W{l}", network.W[l]), (f"b{l}", network.b[l])):
                array = arrays[name]
                if array.shape != target.shape or array.dtype != network.dtype:
                    raise FormatError(f"{name} is {array.dtype}{array.shape}, expected "
                                      f"{network.dtype}{target.shape}")
                target[...] = array
        for name in SCALING:
            array = arrays[name]
            expected = getattr(network, name).shape
            if array.shape != expected or array.dtype != np.float64:
                raise FormatError(f"{name} is {array.dtype}{array.shape}, expected float64{expected}")
            setattr(network, name, array)
        metadata = meta.get("metadata", {})
    except FormatError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"malformed network file: {exc!r}") from None
    return network, metadata
