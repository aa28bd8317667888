"""One error shape for every failure: RFC 9457 problem details, ``application/problem+json``.

Views and helpers raise ``ApiError`` (or let werkzeug's HTTP exceptions and marshmallow's
``ValidationError`` escape); the handlers here render each of them, and anything unexpected,
in the same shape. Nothing renders HTML or a traceback.
"""
import logging

from flask import current_app, json, request
from marshmallow import ValidationError
from werkzeug.exceptions import (HTTPException, InternalServerError, MethodNotAllowed, NotFound,
                                 RequestEntityTooLarge)

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status, detail, *, title=None, errors=None, headers=None):
        super().__init__(detail)
        self.status, self.detail, self.title = status, detail, title
        self.errors, self.headers = errors, headers or {}


def problem(status, detail, *, title=None, errors=None, headers=None):
    from werkzeug.http import HTTP_STATUS_CODES

    body = {"type": "about:blank", "title": title or HTTP_STATUS_CODES.get(status, "Error"),
            "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    response = current_app.response_class(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def _api_error(exc):
    return problem(exc.status, exc.detail, title=exc.title, errors=exc.errors, headers=exc.headers)


def _flatten(messages, path=""):
    """("data.X", "[3][0]: must be finite.") pairs from marshmallow's nested messages."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            key = str(key)
            name = key if not path else (f"{path}[{key}]" if key.isdigit() else f"{path}.{key}")
            yield from _flatten(value, name if key != "_schema" else path)
    elif isinstance(messages, list):
        for message in messages:
            yield from _flatten(message, path)
    else:
        yield path, str(messages)


MAX_ERRORS = 20  # entries per level of `errors`; each key and message cut to MAX_TEXT characters
MAX_TEXT = 200


def _cut(text):
    text = str(text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


def _bounded(messages):
    """marshmallow's messages, small whatever the request was: an error never echoes a
    megabyte of input back."""
    if isinstance(messages, dict):
        items = list(messages.items())
        out = {_cut(k): _bounded(v) for k, v in items[:MAX_ERRORS]}
        if len(items) > MAX_ERRORS:
            out["..."] = [f"and {len(items) - MAX_ERRORS} more"]
        return out
    if isinstance(messages, list):
        out = [_bounded(m) for m in messages[:MAX_ERRORS]]
        return out + ([f"and {len(messages) - MAX_ERRORS} more"] if len(messages) > MAX_ERRORS else [])
    return _cut(messages)


def _validation_error(exc):
    messages = _bounded(exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages})
    problems = [(f"{path}{msg}" if msg.startswith("[") else f"{path}: {msg}") if path else msg
                for path, msg in _flatten(messages)]
    detail = problems[0] if problems else "The request is invalid."
    if len(problems) > 1:
        detail += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''}: see `errors`)"
    return problem(422, detail, title="Invalid request", errors=messages)


def _http_error(exc):
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    detail = exc.description or exc.name
    if isinstance(exc, MethodNotAllowed):
        allowed = ", ".join(m for m in (exc.valid_methods or []) if m not in ("HEAD", "OPTIONS"))
        detail = f"{request.method} is not allowed on {request.path}; use {allowed or 'another route'}."
    elif isinstance(exc, NotFound):
        detail = f"There is no route {request.path[:200]}; the API is described at /openapi.json."
    elif isinstance(exc, RequestEntityTooLarge):
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        detail = f"The body is larger than the limit of {limit} bytes (NN_MAX_BODY_BYTES)."
        return problem(413, detail, title="Content Too Large", headers=headers)
    return problem(exc.code or 500, detail, title=exc.name, headers=headers)


def _unexpected(exc):
    log.exception("unhandled error")
    return _http_error(InternalServerError("The server failed to handle the request; it is logged."))


def _missing_model(exc):
    return _api_error(ApiError(404, f"There is no model with id {str(exc)[:80]!r}.", title="Model not found"))


def _damaged_model(exc):
    return _api_error(ApiError(409, f"The model cannot be used: {exc}.", title="Model damaged"))


def init_app(app):
    from .store import Corrupt, NotFound as ModelNotFound

    # A model deleted or damaged while a request was using it: never a 500.
    app.register_error_handler(ModelNotFound, _missing_model)
    app.register_error_handler(Corrupt, _damaged_model)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(ValidationError, _validation_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
