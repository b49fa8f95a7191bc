# Two entry points on a fresh machine:  make demo  |  make test
# Each creates .venv on first use (reused afterwards) and honours PIP_FIND_LINKS
# (a wheel cache, e.g. PIP_FIND_LINKS=../shared/wheels for a prebuilt mmcv).
PYTHON3 ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmscratch-installed
PIP := $(PY) -m pip install -q -c requirements/constraints.txt
PYTEST_ARGS ?=
DEMO_ARGS ?=
MINI_PAPER_ARGS ?=

CONFIG ?=
GPUS ?= 1
ARGS ?=

.PHONY: demo test test-fast install train clean-venv mini-paper

install: $(STAMP)

# torch before mmcv: mmcv 2.1.0 is source-only on PyPI and compiles against the
# installed torch (--no-build-isolation), with setuptools<81 for pkg_resources.
$(STAMP): setup.cfg requirements/build.txt requirements/runtime.txt requirements/tests.txt \
		requirements/constraints.txt
	test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PIP) -r requirements/build.txt
	$(PIP) $$(grep -E '^(torch|numpy)==' requirements/runtime.txt)
	$(PIP) --no-build-isolation -r requirements/runtime.txt -r requirements/tests.txt
	$(PIP) --no-build-isolation --no-deps -e .
	$(PY) -c "import pkg_resources, mmcv.ops, mmdet, mmscratch; print('mmscratch', mmscratch.__version__, 'ready')"
	touch $(STAMP)

# Generate the shapes dataset if missing, train the GN Mask R-CNN from scratch,
# evaluate bbox/segm AP with pycocotools and plot the convergence curve.
demo: $(STAMP)
	$(PY) tools/demo.py $(DEMO_ARGS)

# The paper's experiment in miniature (docs/mini_paper.md): generated pre-training set,
# backbone pre-training, scratch vs pretrained at 1/4..2x the demo schedule and on
# subsets of the data, Figure 1 / tables / Figure 3 in work_dirs/mini_paper. Resumable:
#   make mini-paper MINI_PAPER_ARGS="--resume"
mini-paper: $(STAMP)
	$(PY) tools/mini_paper.py $(MINI_PAPER_ARGS)

# The whole suite; pytest's exit code 5 (nothing collected) is a failure.
test: $(STAMP)
	@$(PY) -m pytest $(PYTEST_ARGS) tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; exit 1; fi; exit $$rc

# The tests not marked slow (no real training runs, subprocess launches or
# installs): a quick check while developing; `make test` is the whole suite.
test-fast: $(STAMP)
	@$(PY) -m pytest -m "not slow" $(PYTEST_ARGS) tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; exit 1; fi; exit $$rc

# Train with the project's interpreter, without activating .venv:
#   make train CONFIG=configs/scratch/mask_rcnn_r50_gn_6x.py GPUS=8 ARGS="--resume"
# (tools/dist_train.sh finds .venv by itself too; ARGS go to tools/train.py)
train: $(STAMP)
	@test -n "$(CONFIG)" || { echo "error: make train needs CONFIG=path/to/config.py"; exit 2; }
	PYTHON=$(abspath $(PY)) tools/dist_train.sh $(CONFIG) $(GPUS) $(ARGS)

clean-venv:
	rm -rf $(VENV)
