# The two commands a newcomer needs: `make demo` and `make test`. Everything installs itself
# into .venv on first use (python3 >= 3.10 is the only prerequisite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup demo test serve bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,demo,bench]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the project with its test, demo and bench extras

demo: $(STAMP)  ## train the reference network over HTTP, predict, write output/*.png
	$(PY) scripts/demo.py

test: $(STAMP)  ## run the whole test suite
	$(PY) -m pytest

serve: $(STAMP)  ## run the service on $(HOST):$(PORT) with the models in ./var/models
	$(VENV)/bin/gunicorn --config deploy/gunicorn.conf.py --bind $(HOST):$(PORT) service.wsgi:app

bench: $(STAMP)  ## benchmark nn against the reference algorithm, scikit-learn and PyTorch
	$(PY) bench/bench.py

clean:
	rm -rf $(VENV) output var *.egg-info
