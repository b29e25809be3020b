# Quick start:  make demo   (phantom → bundled model → synthetic CT, previews, metrics)
#               make test   (the test suite; what CI runs)
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_DIR ?= demo-output

.PHONY: venv demo test benchmark clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps nilearn==0.14.1  # only for its real MNI152 T1 MR template (a test reads the file)
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) -m GANSynthesisLib demo --output $(DEMO_DIR)

test: venv
	$(PY) -m pytest -q

benchmark: venv
	$(PY) benchmarks/inference_benchmark.py

clean:
	rm -rf $(VENV) $(DEMO_DIR)
