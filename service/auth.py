"""Bearer-token authentication, on when ``NN_API_TOKEN`` is set.

Every endpoint but ``/healthz`` then requires ``Authorization: Bearer <token>``; the token is
compared in constant time. Anything else is a 401 with ``WWW-Authenticate``.
"""
import hmac

from flask import current_app, request

from .errors import ApiError

OPEN_PATHS = ("/healthz",)


def _check():
    token = current_app.config.get("API_TOKEN")
    if not token or request.path in OPEN_PATHS:
        return None
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return None
    error = "invalid_token" if scheme.lower() == "bearer" else None
    challenge = 'Bearer realm="nn-service"' + (f', error="{error}"' if error else "")
    raise ApiError(401, "Send `Authorization: Bearer <token>` with the token this service was given "
                        "(NN_API_TOKEN)." if not error else "The bearer token is not valid.",
                   title="Unauthorized", headers={"WWW-Authenticate": challenge})


def init_app(app):
    app.before_request(_check)
