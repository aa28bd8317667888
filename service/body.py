"""Reading request bodies as strict JSON.

Stricter than ``request.get_json()``: the content type must be JSON (415), the body must
arrive whole within ``BODY_TIMEOUT_SECONDS`` (408) and within the size limit (413), the document
must parse (400), and it may not contain duplicate keys, objects of more than ``MAX_KEYS`` keys
or nest deeper than the parser's recursion limit (400). The top level must be an object (422).

``NaN``, ``Infinity``, numbers that overflow a float64 (``1e400``) and integers of more than
``MAX_INT_DIGITS`` digits parse into ``NonFinite`` markers rather than failing the whole document, so that the schema can reject them with the
field and index where they stand (``data.X[3][0]``).
"""
import json
import math
import re
import socket
import time

from flask import current_app, request
from werkzeug.exceptions import ClientDisconnected, HTTPException

from .errors import ApiError

TOTAL_BODY_TIMEOUTS = 6  # a whole body may take this many NN_BODY_TIMEOUT_SECONDS
MAX_KEYS = 256  # no object of this API has more than a few dozen
MAX_INT_DIGITS = 400  # beyond float64's range, so of no use anywhere


class _Reject(ValueError):
    pass


def _no_duplicates(pairs):
    if len(pairs) > MAX_KEYS:
        raise _Reject(f"an object has {len(pairs)} keys; at most {MAX_KEYS} are accepted")
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise _Reject(f"duplicate key {key!r} in a JSON object")
        obj[key] = value
    return obj


class NonFinite:
    """Where the document had NaN, Infinity, -Infinity or a number beyond float64's range."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text[:40]

    def __repr__(self):
        return self.text


def _float(text):
    value = float(text)
    return value if math.isfinite(value) else NonFinite(text)


def _int(text):
    return NonFinite(text) if len(text) > MAX_INT_DIGITS else int(text)


def parse(raw: bytes):
    """Parse a JSON document strictly; raises ``ApiError(400)`` naming the problem."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raise ApiError(400, "The body starts with a byte-order mark; send UTF-8 without one.",
                       title="Malformed JSON")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"The body is not valid UTF-8 (byte {exc.start}).", title="Malformed JSON")
    if not text.strip():
        raise ApiError(400, "The body is empty; send a JSON object.", title="Malformed JSON")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=NonFinite,
                          parse_float=_float, parse_int=_int)
    except _Reject as exc:
        raise ApiError(400, f"The body is not acceptable JSON: {exc}.", title="Malformed JSON")
    except json.JSONDecodeError as exc:
        what = re.sub(r"\s+at$", "", exc.msg)
        raise ApiError(400, f"The body is not valid JSON: {what} at line {exc.lineno} column "
                            f"{exc.colno} (character {exc.pos}).", title="Malformed JSON")
    except RecursionError:  # the parser's own guard, in C: linear in the size of the body
        raise ApiError(400, "The JSON document nests too deeply.", title="Malformed JSON")


def json_body():
    """The request's JSON object. 415 unless the content type is JSON; 400 if it does not parse."""
    if not request.is_json:
        got = request.mimetype or "no content type"
        raise ApiError(415, f"Send the body as JSON with `Content-Type: application/json` (got {got}).")
    document = parse(_read_limited())
    if not isinstance(document, dict):
        raise ApiError(422, f"The body must be a JSON object, not {_json_type(document)}.",
                       title="Invalid request", errors={"_schema": ["Must be a JSON object."]})
    return document


def query_args():
    """The query string as a dict; a parameter given twice is a 422, not a silent first pick."""
    repeated = sorted(k for k, values in request.args.lists() if len(values) > 1)
    if repeated:
        raise ApiError(422, f"Query parameter {repeated[0]!r} is given more than once.", title="Invalid request",
                       errors={k: ["Given more than once."] for k in repeated})
    return request.args.to_dict()


def too_large():
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    return ApiError(413, f"The body is larger than the limit of {limit} bytes (NN_MAX_BODY_BYTES).",
                    title="Content Too Large")


def _read_limited(chunk=64 * 1024):
    """The body, refusing (413) as soon as it passes ``MAX_CONTENT_LENGTH``: at once when the
    declared Content-Length is too large, and while reading when the body is chunked. A client
    that stops sending for ``BODY_TIMEOUT_SECONDS`` gets a 408 and its thread back."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        raise too_large()
    timeout = current_app.config["BODY_TIMEOUT_SECONDS"]
    connection = request.environ.get("gunicorn.socket")
    if connection is not None:
        connection.settimeout(timeout)
    parts, total = [], 0
    started = time.monotonic()
    try:
        while True:
            if time.monotonic() - started > TOTAL_BODY_TIMEOUTS * timeout:  # a trickle, byte by byte
                raise socket.timeout()
            part = request.stream.read(chunk)
            if not part:
                return b"".join(parts)
            total += len(part)
            if total > limit:
                raise too_large()
            parts.append(part)
    except ApiError:
        raise
    except (socket.timeout, TimeoutError, ClientDisconnected) as exc:
        if isinstance(exc, ClientDisconnected) and time.monotonic() - started < timeout:
            raise ApiError(400, "The body ended before its declared Content-Length.", title="Malformed body",
                           headers={"Connection": "close"}) from None
        raise ApiError(408, f"The body stalled for {timeout:g} s, or took over {TOTAL_BODY_TIMEOUTS * timeout:g} s "
                            "(NN_BODY_TIMEOUT_SECONDS).",
                       title="Request Timeout", headers={"Connection": "close"}) from None
    except HTTPException:
        raise
    except Exception as exc:  # the server's HTTP parser: a broken chunked encoding, a short body
        raise ApiError(400, f"The body could not be read: {exc}.", title="Malformed body",
                       headers={"Connection": "close"})
    finally:
        if connection is not None:
            connection.settimeout(None)


def _json_type(value):
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")
