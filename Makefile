# Two commands do all set-up on a fresh Linux machine with Python 3.11:
#   make course   create .venv, install, execute every lesson, print the results table
#   make test     create .venv, install, run the test suite
# GPU: add GPU=1 (installs tensorflow[and-cuda] instead of tensorflow-cpu).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed$(if $(GPU),-gpu)
SHARED_DATA := $(abspath ../shared/datasets)

# Use the shared offline copy of the data sets when it sits beside the checkout.
ifneq ($(wildcard $(SHARED_DATA)/hymenoptera_data),)
export TLCOURSE_DATA ?= $(SHARED_DATA)
endif

# GPU=1: mixed precision too (float16 compute, float32 variables and softmax: tlcourse/precision.py).
ifdef GPU
export TLCOURSE_MIXED_PRECISION ?= 1
endif

# The browser test drives Debian's Chromium (Playwright's own browser download is not used).
CHROMIUM := $(firstword $(wildcard /usr/lib/chromium/chromium /usr/bin/chromium))
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install browser sandbox hub data image course quick site test lab lint clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
ifdef GPU
	@mkdir -p build
	grep -v '^tensorflow-cpu' requirements.txt > build/requirements-gpu.txt
	echo 'tensorflow[and-cuda]==2.21.0' >> build/requirements-gpu.txt
	$(BIN)/python -m pip install --quiet -r build/requirements-gpu.txt
else
	$(BIN)/python -m pip install --quiet -r requirements.txt
endif
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

# (PYTHONWARNINGS=ignore: setuptools' "beta" warnings about our own pyproject are not news to a user.)
install: $(STAMP)

course: install data
	$(BIN)/tlcourse run

quick: install data
	$(BIN)/tlcourse run --quick

# The website (Jupyter Book 1.x, offline) from the executed lessons; runs the course first if there
# is no run yet (QUICK=1: the short version). REPO=<student edition git URL> [HUB=<hub URL>] adds
# launch links; SOLUTIONS=1 builds the self-study edition from the masters.
site: install
ifdef SOLUTIONS
	@test -d build/solutions/executed || $(BIN)/tlcourse run --lessons solutions --out build/solutions $(if $(QUICK),--quick)
	$(BIN)/tlcourse site --executed build/solutions/executed --out build/site-solutions --solutions $(if $(REPO),--repo $(REPO)) $(if $(HUB),--hub $(HUB))
else
	@test -d build/executed || $(BIN)/tlcourse run $(if $(QUICK),--quick)
	$(BIN)/tlcourse site $(if $(REPO),--repo $(REPO)) $(if $(HUB),--hub $(HUB))
endif

# The build context of the single-user image (deploy/Dockerfile): the student edition and the data.
image: install
	rm -rf build/image
	$(BIN)/tlcourse release build/image/edition $(if $(REPO),--repo $(REPO))
	mkdir -p build/image/data
	cp -r "$$($(BIN)/python -c 'from tlcourse.datasets import hymenoptera_path; print(hymenoptera_path())')" build/image/data/
	@echo "build context ready: docker build -f deploy/Dockerfile -t <image>:<tag> build/image"

browser:
ifeq ($(CHROMIUM),)
	@if command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium for the browser test"; \
	  $(SUDO) apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null); \
	else echo "no apt-get: install Chromium yourself or set TLCOURSE_CHROMIUM (the browser test needs it)"; fi
endif

# The grader runs students' notebooks in bubblewrap (Debian's bubblewrap package).
sandbox:
	@if ! command -v bwrap >/dev/null; then \
	  if command -v apt-get >/dev/null; then \
	    echo "installing Debian's bubblewrap for the grading box"; \
	    $(SUDO) apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	    ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq bubblewrap >/dev/null); \
	  else echo "no apt-get: install bubblewrap yourself (tlcourse grade needs it)"; fi; \
	fi

# Lesson 4's large target, Fashion-MNIST, offline: Debian's dataset-fashion-mnist (30 MB, into
# /usr/share/datasets/fashion-mnist). Without it the lesson shows its quoted numbers for that corner.
FASHION := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
data:
	@if [ ! -f $(FASHION) ] && [ ! -f "$(TLCOURSE_DATA)/fashion-mnist/train-images-idx3-ubyte.gz" ]; then \
	  if command -v apt-get >/dev/null; then \
	    echo "installing Debian's dataset-fashion-mnist (lesson 4's large target)"; \
	    $(SUDO) apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	    ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist >/dev/null) || \
	    echo "could not install dataset-fashion-mnist: lesson 4 shows its quoted numbers for Fashion-MNIST"; \
	  else echo "no apt-get: put Fashion-MNIST's four .gz files in \$$TLCOURSE_DATA/fashion-mnist for lesson 4's large target"; fi; \
	fi

# The hub test's proxy: configurable-http-proxy (npm; JupyterHub's default proxy), into build/hub-node.
HUB_PROXY := build/hub-node/node_modules/.bin/configurable-http-proxy
hub:
	@if [ ! -x $(HUB_PROXY) ]; then \
	  if ! command -v npm >/dev/null && command -v apt-get >/dev/null; then \
	    echo "installing Debian's nodejs and npm for the hub test"; \
	    $(SUDO) apt-get install -y -qq nodejs npm >/dev/null 2>&1 || \
	    ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm >/dev/null); \
	  fi; \
	  if command -v npm >/dev/null; then \
	    npm install --silent --no-audit --no-fund --prefix build/hub-node configurable-http-proxy@5.3.0; \
	  else echo "no npm: tests/test_hub.py will be skipped (it needs node for JupyterHub's proxy)"; fi; \
	fi

# Two pytest-xdist workers (TEST_WORKERS=0: one process); the groups and their order: tests/plugins/xdist_groups.py.
TEST_WORKERS ?= 2
test: install browser sandbox hub data
	.ci/offline $(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=40 --junitxml=build/test-artifacts/junit.xml

lab: install
	$(BIN)/jupyter lab lessons

lint: install
	$(BIN)/ruff check tlcourse tlcourse_keys tests solutions lessons probes

clean:
	rm -rf build runs .pytest_cache
