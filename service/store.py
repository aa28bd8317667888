"""The model store: one directory per model under ``MODEL_DIR``, shared by every process.

    <root>/<id>/model.json   the model resource (status, hyperparameters, progress, results)
    <root>/<id>/data.npz     the training data, saved when the job is accepted
    <root>/<id>/weights.npz  the trained network (nn.io format), once succeeded
    <root>/<id>/lock         flock()ed by whoever may change the job: its runner while it trains
    <root>/<id>/cancel       present once cancelling was asked for
    <root>/<id>/heartbeat    touched every few seconds by the process training the job

Jobs that are not finished (queued or running) also have a marker, ``<root>/.active/<id>``, so
that runners and queue positions look at those records only, not at every model ever trained.
Markers heal themselves: one whose model is finished or gone is removed when next seen.

Every file is written atomically (a temporary file in the same directory, then ``os.replace``),
and a model directory appears at once, complete (built as ``.new-<id>``, then renamed), so no
reader ever sees half of anything. Ids are checked against the server's own format before any
path is built. Deleting renames the directory away first, so the id is gone at once.
"""
import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import time
import zipfile
from datetime import datetime, timezone

import numpy as np

from nn import io as nn_io

ID_PATTERN = re.compile(r"[0-9a-f]{32}")
ACTIVE = ".active"
TERMINAL = ("succeeded", "failed", "cancelled")
RECORD, DATA, WEIGHTS, LOCK, CANCEL, HEARTBEAT = (
    "model.json", "data.npz", "weights.npz", "lock", "cancel", "heartbeat")


class NotFound(LookupError):
    pass


class Corrupt(ValueError):
    """A model's files exist but cannot be read back; the message says which and why."""


def new_id():
    return secrets.token_hex(16)


def now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ModelStore:
    def __init__(self, root):
        self.root = os.path.realpath(root)
        os.makedirs(self.root, exist_ok=True)

    # -- paths -----------------------------------------------------------------------------

    def path(self, model_id, *parts):
        """The directory (or a file in it) of a well-formed id; ``NotFound`` for anything else."""
        if not isinstance(model_id, str) or not ID_PATTERN.fullmatch(model_id):
            raise NotFound(model_id)
        directory = os.path.join(self.root, model_id)
        if os.path.dirname(directory) != self.root:  # belt and braces: never leave the store
            raise NotFound(model_id)
        return os.path.join(directory, *parts)

    def ids(self):
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return [n for n in names if ID_PATTERN.fullmatch(n) and os.path.isdir(os.path.join(self.root, n))]

    # -- active jobs -----------------------------------------------------------------------

    def _marker(self, model_id):
        return os.path.join(self.root, ACTIVE, model_id)

    def mark_active(self, model_id):
        os.makedirs(os.path.join(self.root, ACTIVE), exist_ok=True)
        with open(self._marker(model_id), "wb"):
            pass

    def unmark_active(self, model_id):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._marker(model_id))

    def reconcile_active(self):
        """Re-mark every unfinished job from the records themselves: markers are an index, and
        an index must never be the only thing that keeps a job alive."""
        for record in self.records():
            if record.get("status") in ("queued", "running"):
                self.mark_active(record["id"])

    def active_records(self, grace=60.0):
        """Records of the unfinished jobs (queued or running), oldest first."""
        try:
            names = os.listdir(os.path.join(self.root, ACTIVE))
        except FileNotFoundError:
            return []
        out = []
        for model_id in names:
            if not ID_PATTERN.fullmatch(model_id):
                continue
            try:
                record = self.read(model_id)
            except NotFound:  # deleted, or (within the grace period) still being created
                with contextlib.suppress(OSError):
                    if time.time() - os.stat(self._marker(model_id)).st_mtime > grace:
                        self.unmark_active(model_id)
                continue
            except Corrupt:  # possibly passing: keep the marker; the record speaks once readable
                continue
            if record.get("status") in TERMINAL:
                self.unmark_active(model_id)
                continue
            out.append(record)
        out.sort(key=lambda r: (r.get("created_at") or "", r["id"]))
        return out

    # -- records -----------------------------------------------------------------------------

    def create(self, record, X, Y):
        """Persist a new job (record and training data) atomically; the id appears complete."""
        model_id = record["id"]
        final = self.path(model_id)
        self.mark_active(model_id)  # first: a crash before the rename leaves only a stray marker
        staging = os.path.join(self.root, f".new-{model_id}")
        os.mkdir(staging)
        try:
            buffer = io.BytesIO()
            np.savez(buffer, X=X, Y=Y)
            nn_io.atomic_write(os.path.join(staging, DATA), buffer.getvalue())
            nn_io.atomic_write(os.path.join(staging, RECORD), _encode(record))
            open(os.path.join(staging, LOCK), "wb").close()
            _fsync_dir(staging)
            os.rename(staging, final)
            _fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            self.unmark_active(model_id)
            raise

    def read(self, model_id):
        path = self.path(model_id, RECORD)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except (FileNotFoundError, NotADirectoryError):
            if os.path.isdir(os.path.dirname(path)):  # directories appear complete: this is damage
                raise Corrupt(f"the metadata of model {model_id} is missing") from None
            raise NotFound(model_id) from None
        try:
            record = json.loads(raw)
            if not isinstance(record, dict) or record.get("id") != model_id:
                raise ValueError("not this model's record")
            return record
        except ValueError as exc:
            raise Corrupt(f"the metadata of model {model_id} is unreadable ({exc})") from None

    def write(self, record):
        """Replace a model's record atomically. Raises ``NotFound`` once the model is deleted."""
        try:
            nn_io.atomic_write(self.path(record["id"], RECORD), _encode(record))
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(record["id"]) from None
        if record.get("status") in TERMINAL:
            self.unmark_active(record["id"])
        elif record.get("status") == "queued":
            self.mark_active(record["id"])  # back in the queue

    def records(self):
        """Every model's record, newest first. A model that cannot be read shows as failed."""
        out = []
        for model_id in self.ids():
            try:
                out.append(self.read(model_id))
            except NotFound:
                continue  # deleted while listing
            except Corrupt as exc:
                out.append(broken_record(model_id, str(exc), self._mtime(model_id)))
        out.sort(key=lambda r: (r.get("created_at") or "", r["id"]), reverse=True)
        return out

    def _mtime(self, model_id):
        try:
            return datetime.fromtimestamp(os.stat(self.path(model_id)).st_mtime, timezone.utc) \
                .isoformat(timespec="milliseconds").replace("+00:00", "Z")
        except OSError:
            return None

    # -- arrays ----------------------------------------------------------------------------

    def load_data(self, model_id):
        try:
            with np.load(self.path(model_id, DATA), allow_pickle=False) as npz:
                return npz["X"], npz["Y"]
        except FileNotFoundError:
            raise NotFound(model_id) from None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise Corrupt(f"the training data of model {model_id} is unreadable ({exc})") from None

    def save_network(self, model_id, network, metadata):
        """Write the weights atomically; returns their SHA-256, to be kept in the record."""
        blob = nn_io.to_bytes(network, metadata)
        try:
            nn_io.atomic_write(self.path(model_id, WEIGHTS), blob)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(model_id) from None
        return hashlib.sha256(blob).hexdigest()

    def load_network(self, model_id, sha256=None):
        path = self.path(model_id, WEIGHTS)
        try:
            with open(path, "rb") as f:
                blob = f.read()
        except (FileNotFoundError, NotADirectoryError):
            raise Corrupt(f"the weights of model {model_id} are missing") from None
        if sha256 is not None and hashlib.sha256(blob).hexdigest() != sha256:
            raise Corrupt(f"the weights of model {model_id} do not match their checksum")
        try:
            return nn_io.load(io.BytesIO(blob))
        except nn_io.FormatError as exc:
            raise Corrupt(f"the weights of model {model_id} are unreadable ({exc})") from None

    def weights_stamp(self, model_id):
        """(mtime_ns, size, inode) of the weights file: changes whenever it is replaced."""
        st = os.stat(self.path(model_id, WEIGHTS))
        return st.st_mtime_ns, st.st_size, st.st_ino

    # -- locks and cancellation ------------------------------------------------------------

    def try_lock(self, model_id):
        """An fd holding the model's exclusive lock, or None if someone else holds it.

        Raises ``NotFound`` if the model is gone. The lock is released when every copy of the
        fd is closed, which the kernel does when the holder dies, however it dies.
        """
        return try_lock_file(self.path(model_id, LOCK), create=False, missing=NotFound(model_id))

    @contextlib.contextmanager
    def locked(self, model_id, timeout=5.0):
        """Hold the model's lock, waiting up to ``timeout`` seconds; yields False if not had."""
        deadline = time.monotonic() + timeout
        fd = self.try_lock(model_id)
        while fd is None and time.monotonic() < deadline:
            time.sleep(0.02)
            fd = self.try_lock(model_id)
        try:
            yield fd is not None
        finally:
            if fd is not None:
                os.close(fd)

    def request_cancel(self, model_id):
        try:
            fd = os.open(self.path(model_id, CANCEL), os.O_WRONLY | os.O_CREAT, 0o644)
            os.close(fd)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(model_id) from None

    def cancel_requested(self, model_id):
        return os.path.exists(self.path(model_id, CANCEL))

    def beat(self, model_id):
        """Touch the heartbeat file (the training process is alive and not hung)."""
        try:
            with open(self.path(model_id, HEARTBEAT), "wb"):
                pass
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(model_id) from None

    def heartbeat_age(self, model_id):
        """Seconds since the last heartbeat, or None if there was none."""
        try:
            return max(0.0, time.time() - os.stat(self.path(model_id, HEARTBEAT)).st_mtime)
        except OSError:
            return None

    def delete(self, model_id):
        """Remove a model at once; a runner still training it notices and stops."""
        directory = self.path(model_id)
        if not os.path.isdir(directory):
            raise NotFound(model_id)
        with contextlib.suppress(NotFound, OSError):
            self.request_cancel(model_id)
        trash = os.path.join(self.root, f".trash-{model_id}-{secrets.token_hex(4)}")
        try:
            os.rename(directory, trash)
        except FileNotFoundError:
            raise NotFound(model_id) from None
        self.unmark_active(model_id)
        # A training process still running writes only through the old path, which is gone, so
        # nothing can appear in the trash; whatever rmtree misses, ``sweep`` removes later.
        shutil.rmtree(trash, ignore_errors=True)

    def sweep(self, min_age=60.0):
        """Remove leftovers: deleted models' trash, staging directories of failed creates."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return
        for name in names:
            path = os.path.join(self.root, name)
            if name.startswith(".trash-"):
                shutil.rmtree(path, ignore_errors=True)
            elif name.startswith(".new-"):
                with contextlib.suppress(OSError):
                    if time.time() - os.stat(path).st_mtime > min_age:
                        shutil.rmtree(path, ignore_errors=True)


def try_lock_file(path, *, create=True, missing=None):
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o644)
    except (FileNotFoundError, NotADirectoryError):
        if isinstance(missing, Exception):
            raise missing from None
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


def broken_record(model_id, error, created_at=None):
    return {"id": model_id, "name": None, "status": "failed", "created_at": created_at, "error": error}


def _encode(record):
    return json.dumps(record, allow_nan=False, separators=(",", ":")).encode("ascii")
