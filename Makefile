# paperlib: `make figures` regenerates the figures, `make test` runs the tests before a commit
# (at most 6 minutes on 2 cores), `make test-all` every test (CI). All create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every package's exact version and hashes (pip-tools, from pyproject.toml): `make lock` makes it
LOCK := requirements.lock
PIP := $(PY) -m pip --disable-pip-version-check
PROFILE ?= small

NOTEBOOKS := 01_lr_range_test 02_fig5_super_convergence 03_fig8_cyclical_momentum 04_fig15_cifar100
# 05 applies Smith's recipe to a model of ours; it has smoke and small profiles, no paper one
NOTEBOOKS += $(if $(filter paper,$(PROFILE)),,05_disciplined_recipe)
# Notebook 04 is CIFAR-100's; where only CIFAR-10 is at hand: make figures DATASET_04=cifar10
DATASET_04 ?= cifar100
# auto: bf16 on CUDA, and for convnets on CPUs with native bf16, else fp32; fp32 is Smith's arithmetic
PRECISION ?= auto

.PHONY: setup lock test test-all notebooks figures estimate plan report benchmark lab clean

# Executed and checked notebooks never hold a progress bar (paperlib/progress.py).
test test-all figures: export PAPERLIB_PROGRESS = 0
setup: $(STAMP)

# The locked packages, each checked against the lock's hashes, then this project on top of them
# (editable, no dependencies of its own to resolve).
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes -r $(LOCK)
	$(PIP) install --quiet --no-deps -e .
	touch $(STAMP)

# Refresh the lock from pyproject.toml's ranges (the newest versions they admit, for Linux x86_64
# and Python 3.11), and environment.yml from the lock. pip-tools is a tool of this target only.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet pip-tools
	$(PY) -m piptools compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links --extra test --extra ray --output-file $(LOCK) pyproject.toml
	$(PY) scripts/environment_yml.py

# The tests but those marked slow (real subprocesses, Ray, the paper profile's steps), the
# fused-runs check over 8 steps (4 runs fused against the same runs apart, compared after every
# step in fp32; it exits non-zero above a relative difference of 1e-4), then nbval over the
# committed (smoke-executed) notebooks: --nbval-lax checks the cells marked NBVAL_CHECK_OUTPUT,
# after the sanitizer masks the trained numbers. runs/smoke goes first so that the notebooks
# train again instead of reloading finished smoke runs. test-all: every test and 50 steps.
NBVAL := $(PY) -m pytest --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks
test: $(STAMP)
	$(PY) -m pytest -m "not slow"
	$(PY) benchmarks/fused_check.py --steps 8
	rm -rf runs/smoke
	$(NBVAL)

test-all: $(STAMP)
	$(PY) -m pytest
	$(PY) benchmarks/fused_check.py
	rm -rf runs/smoke
	$(NBVAL)

# Re-execute the committed notebooks with their own parameters (the smoke profile), as nbval
# compares them: each through papermill into build/, copied over the committed one once it has
# finished. After a change to paperlib or a notebook, before committing.
notebooks: $(STAMP)
	rm -rf runs/smoke
	@mkdir -p build
	@for nb in 01_lr_range_test 02_fig5_super_convergence 03_fig8_cyclical_momentum 04_fig15_cifar100 05_disciplined_recipe; do \
	  echo "papermill notebooks/$$nb.ipynb (smoke)"; \
	  PAPERLIB_PROGRESS=0 $(PY) -m papermill notebooks/$$nb.ipynb build/$$nb.ipynb --no-progress-bar || exit 1; \
	  cp build/$$nb.ipynb notebooks/$$nb.ipynb; \
	done

# Runs every notebook with papermill into reports/<profile>/ (each notebook writes its figures,
# CSVs and JSONs to figures/, or figures/smoke/ for PROFILE=smoke); the wall time of each goes to
# reports/<profile>/timings.tsv. An executed notebook only replaces the old one once it finished.
# The estimate comes first; where it says more than a day on this device, make asks before it
# trains (CONFIRM=1 answers yes; without a terminal to ask on, it stops).
CONFIRM ?= 0
figures: $(STAMP)
	@case "$(PROFILE)" in smoke|small|paper) ;; *) echo "PROFILE must be smoke, small or paper, not '$(PROFILE)'" >&2; exit 2;; esac
	@mkdir -p reports/$(PROFILE)
	@mkdir -p build && $(PY) -m paperlib estimate --profile $(PROFILE) --precision $(PRECISION) | tee build/estimate-$(PROFILE).txt
	@grep -q "^  total" build/estimate-$(PROFILE).txt  # the estimate itself failed: stop here
	@if grep -q "more than a day" build/estimate-$(PROFILE).txt && [ "$(CONFIRM)" != 1 ]; then \
	  if [ -t 0 ]; then printf 'Train all of it? [y/N] '; read answer; case "$$answer" in y|Y|yes) ;; *) echo "stopped; CONFIRM=1 skips the question"; exit 1;; esac; \
	  else echo "stopped: more than a day of training; rerun with CONFIRM=1 to go ahead" >&2; exit 1; fi; fi
	@for nb in $(NOTEBOOKS); do \
	  extra=""; if [ $$nb = 04_fig15_cifar100 ]; then extra="-p dataset $(DATASET_04)"; fi; \
	  partial=reports/$(PROFILE)/.$$nb.partial.ipynb; start=$$(date +%s); \
	  echo "papermill notebooks/$$nb.ipynb -p profile $(PROFILE) -p precision $(PRECISION) $$extra"; \
	  $(PY) -m papermill notebooks/$$nb.ipynb $$partial -p profile $(PROFILE) -p precision $(PRECISION) $$extra --no-progress-bar || exit 1; \
	  mv $$partial reports/$(PROFILE)/$$nb.ipynb; \
	  printf '%s\t%s\t%ss\n' "$$nb" "$(PROFILE)" "$$(( $$(date +%s) - start ))" | tee -a reports/$(PROFILE)/timings.tsv; \
	done

# The work ahead of a profile and its wall time on this device, from a short probe (seconds).
estimate: $(STAMP)
	$(PY) -m paperlib estimate --profile $(PROFILE)

# How many runs per curve decide each claim, and what they cost here (BUDGET_HOURS=48 to say
# which claims a budget affords).
plan: $(STAMP)
	$(PY) -m paperlib plan --profile $(PROFILE) $(if $(BUDGET_HOURS),--budget-hours $(BUDGET_HOURS))

# One HTML page per profile (reports/<profile>/index.html): every figure, the claims with their
# verdicts, the settings and the provenance, from the saved CSVs and JSONs; nothing reruns.
report: $(STAMP)
	$(PY) -m paperlib report --profile $(PROFILE)

# Images/s of paperlib's fit vs a bare loop vs the textbook DataLoader pipeline (~2 min on a CPU).
# BENCH_ARGS="--device cuda --model resnet56 --batch-size 512" on a GPU.
benchmark: $(STAMP)
	$(PY) benchmarks/throughput.py $(BENCH_ARGS)

# JupyterLab on the project's environment, opened on the notebooks, to step through them.
# Containers often run as root, which JupyterLab refuses unless told; LAB_ARGS adds flags of
# your own to these (LAB_ARGS="--no-browser --port 8889").
LAB_DEFAULTS := $(if $(filter 0,$(shell id -u)),--allow-root)
lab: $(STAMP)
	$(PY) -m jupyter lab notebooks/ $(LAB_DEFAULTS) $(LAB_ARGS)

clean:
	rm -rf .pytest_cache build
