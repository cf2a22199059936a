# Each target sets itself up on a fresh machine: a virtual environment, the packages, the dataset.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
FMNIST_DEBIAN := /usr/share/datasets/fashion-mnist
DEMO_MODEL ?= resnet20
DEMO_DIR ?= out/demo
DEMO_ARGS ?=
ZOO_MODELS ?= resnet20:0,1,2 resnet56:0,1,2 resnet110 vgg11 vgg16 vgg19
ZOO_ARGS ?=
LAB_PORT ?= 8888

.PHONY: setup dataset demo reports zoo lab test test-fast docs first-curve screenshots bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[notebooks,test]"
	@# torchattacks 3.5.1 pins requests~=2.25.1, which JupyterLab 4 cannot share; it never imports requests.
	$(BIN)/python -m pip install --quiet --no-deps "torchattacks==3.5.1"
	touch $@

# Fashion-MNIST from Debian's package when it can be installed; otherwise get_dataset downloads it.
dataset: setup
	@if [ -d $(FMNIST_DEBIAN) ]; then echo "Fashion-MNIST: $(FMNIST_DEBIAN)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
		sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist; \
	else echo "dataset-fashion-mnist cannot be installed here; torchvision will download Fashion-MNIST"; fi
	$(BIN)/python -c "import dynamic_graphs as dg; [dg.get_dataset('fashion-mnist', s) for s in ('train', 'test')]"

# The main job: Fig. 3 for a model trained on Fashion-MNIST, rendered as an HTML report into
# $(DEMO_DIR)/fig3.html (gitignored: the committed reports/ stay as they are). The notebook's progress
# (epoch lines, feature passes) streams to the terminal while it runs. DEMO_ARGS adds parameters,
# e.g. DEMO_ARGS="-p epochs 1 -p train_size 2048" for a quick look.
demo: dataset
	$(BIN)/dynamic-graphs report fig3 -p model $(DEMO_MODEL) $(DEMO_ARGS) --out-dir $(DEMO_DIR)
	@echo "The demo's report: $(DEMO_DIR)/fig3.html"

# Every notebook at full settings (reports/parameters.yml), rendered into the committed reports/*.html.
reports: dataset
	$(BIN)/dynamic-graphs report --all

# The trained zoo the reports use, one row per model and seed (top-1, epochs, minutes) from each run's
# own checkpoint, into reports/zoo.csv (updated: rows of runs trained elsewhere stay). Trains what is
# missing (hours on a CPU); ZOO_ARGS="--missing skip"
# lists only what is trained.
zoo: dataset
	$(BIN)/dynamic-graphs zoo $(ZOO_MODELS) --out reports/zoo.csv $(ZOO_ARGS)

# JupyterLab 4 on the project's environment (the venv's python3 kernel; progress shows as a line every few seconds).
# Stop it with Ctrl-C. LAB_PORT picks the port; as root (containers) it needs --allow-root.
lab: setup
	$(BIN)/jupyter lab --port $(LAB_PORT) $(if $(filter 0,$(shell id -u)),--allow-root)

# Everything: the unit tier, then the slow tier (tests that train, every notebook at the CI preset,
# notebooks/ci-parameters.yml). Tests write only to temporary directories, never to data/.
# DG_TEST_DEVICE=cuda make test runs them on a GPU. The slow tier lists its slowest tests at the end.
test: dataset
	$(BIN)/python -m pytest -m "not slow"
	$(BIN)/python -m pytest -m slow --durations=15

# The unit tier alone: under a minute on a 2-core CPU; the slowest tests are listed at the end.
test-fast: setup
	$(BIN)/python -m pytest -m "not slow" --durations=10

# The documentation site, into docs/_build/html (gitignored): Sphinx with MyST-NB, warnings as errors,
# then the test that walks the built pages (links, images, report figures, one page per public name).
# The report pages show the stored notebooks of reports/ and never re-run them.
docs: $(VENV)/.docs-installed
	$(BIN)/sphinx-build -b html -W --keep-going -q docs docs/_build/html
	DG_DOCS_HTML=docs/_build/html $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_docs.py
	@echo "The site: docs/_build/html/index.html"

$(VENV)/.docs-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@

# Re-run the getting-started notebook in place, refreshing the outputs the site shows (the shipped ResNet20).
first-curve: dataset
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace docs/getting-started/first-curve.ipynb

# Screenshots of four pages of the built site at a laptop and a phone width (headless Chromium), into
# docs/_build/screenshots: what a reader sees, to look at after changing the theme or the pages.
screenshots: docs
	bash docs/screenshots.sh docs/_build/html docs/_build/screenshots

bench: dataset
	$(BIN)/python benchmarks/bench_curve.py
	$(BIN)/python benchmarks/bench_approx.py

clean:
	rm -rf $(VENV) .pytest_cache docs/_build docs/reports docs/api/generated
