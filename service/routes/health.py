from flask import Blueprint, current_app

from .. import openapi

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/openapi.json")
def openapi_document():
    extension = current_app.extensions["nn"]
    if extension.openapi is None:
        extension.openapi = openapi.build(current_app.config)
    return extension.openapi
