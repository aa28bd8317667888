"""The module-level app that gunicorn serves: ``gunicorn --config deploy/gunicorn.conf.py service.wsgi:app``."""
from . import create_app

app = create_app()
