"""Reading request bodies as strict JSON.

Stricter than ``request.get_json()``: the content type must be JSON (415), the document must
parse (400), and it may not contain duplicate keys nor nest deeper than ``MAX_DEPTH`` (400).
The top level must be an object (422).

``NaN``, ``Infinity`` and numbers that overflow a float64 (``1e400``) parse into ``NonFinite``
markers rather than failing the whole document, so that the schema can reject them with the
field and index where they stand (``data.X[3][0]``).
"""
import json
import math

from flask import current_app, request

from .errors import ApiError

MAX_DEPTH = 64


class _Reject(ValueError):
    pass


def _no_duplicates(pairs):
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


def _nesting_depth(text):
    """Deepest bracket nesting outside strings, without building anything."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def parse(raw: bytes):
    """Parse a JSON document strictly; raises ``ApiError(400)`` naming the problem."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"The body is not valid UTF-8 (byte {exc.start}).", title="Malformed JSON")
    if not text.strip():
        raise ApiError(400, "The body is empty; send a JSON object.", title="Malformed JSON")
    # Brackets can only nest as deep as the text is long, so count only when it could matter.
    if text.count("[") + text.count("{") > MAX_DEPTH and _nesting_depth(text) > MAX_DEPTH:
        raise ApiError(400, f"The JSON document nests deeper than {MAX_DEPTH} levels.", title="Malformed JSON")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=NonFinite,
                          parse_float=_float)
    except _Reject as exc:
        raise ApiError(400, f"The body is not acceptable JSON: {exc}.", title="Malformed JSON")
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column "
                            f"{exc.colno} (character {exc.pos}).", title="Malformed JSON")
    except RecursionError:
        raise ApiError(400, "The JSON document nests too deeply.", title="Malformed JSON")


def json_body():
    """The request's JSON object. 415 unless the content type is JSON; 400 if it does not parse."""
    if not request.is_json:
        got = request.mimetype or "no content type"
        raise ApiError(415, f"Send the body as JSON with `Content-Type: application/json` (got {got}).")
    document = parse(_read_limited())
    if not isinstance(document, dict):
        raise ApiError(422, f"The body must be a JSON object, not {_json_type(document)}.",
                       errors={"_schema": ["Must be a JSON object."]})
    return document


def _read_limited(chunk=64 * 1024):
    """The body, refusing (413) as soon as it passes ``MAX_CONTENT_LENGTH``: at once when the
    declared Content-Length is too large, and while reading when the body is chunked."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    too_large = ApiError(413, f"The body is larger than the limit of {limit} bytes (NN_MAX_BODY_BYTES).",
                         title="Content Too Large")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    parts, total = [], 0
    while True:
        part = request.stream.read(chunk)
        if not part:
            return b"".join(parts)
        total += len(part)
        if total > limit:
            raise too_large
        parts.append(part)


def _json_type(value):
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null", int: "a number", float: "a number"}[type(value)]
