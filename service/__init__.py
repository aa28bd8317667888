"""nn-service: train and serve small feed-forward networks over HTTP."""
import logging

import numpy as np
from flask import Flask
from flask.json.provider import DefaultJSONProvider


class StrictJSONProvider(DefaultJSONProvider):
    """JSON out is strict: NaN and Infinity are refused (never emitted); NumPy scalars and
    arrays become plain numbers and lists."""

    ensure_ascii = True  # \u-escapes: valid for any string, even one echoing odd input
    sort_keys = False

    @staticmethod
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return DefaultJSONProvider.default(o)

    def dumps(self, obj, **kwargs):
        kwargs.setdefault("allow_nan", False)
        return super().dumps(obj, **kwargs)


def _log_like_gunicorn():
    """Under gunicorn, the service's log lines go where gunicorn's own go."""
    ours, theirs = logging.getLogger("service"), logging.getLogger("gunicorn.error")
    ours.setLevel(logging.INFO)
    if theirs.handlers and not ours.handlers:
        ours.handlers = list(theirs.handlers)
        ours.propagate = False


def _options_without_body(response):
    """Flask answers OPTIONS itself with an empty HTML 200: make it a 204 with just `Allow`."""
    from flask import request

    if request.method == "OPTIONS" and response.status_code == 200 and not response.get_data():
        response.status_code = 204
        del response.headers["Content-Type"]
    return response


def create_app(config=None):
    """The application factory: settings from the environment, then ``config`` on top."""
    from . import auth, errors, extensions
    from .config import from_env
    from .routes import health, models, predict

    app = Flask(__name__)
    app.json = StrictJSONProvider(app)
    app.url_map.merge_slashes = False  # "/models//<id>" is a 404, not an HTML redirect
    app.after_request(_options_without_body)
    app.config.from_mapping(from_env())
    if config:
        app.config.from_mapping(config)
    _log_like_gunicorn()

    errors.init_app(app)
    auth.init_app(app)
    extensions.init_app(app)
    for module in (health, models, predict):
        app.register_blueprint(module.bp)
    return app


__all__ = ["create_app"]
