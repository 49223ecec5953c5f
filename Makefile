# paperlib: `make figures` regenerates the figures, `make test` runs the tests.
# Both create the project's .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= small

NOTEBOOKS := 01_lr_range_test 02_fig5_super_convergence 03_fig8_cyclical_momentum 04_fig15_cifar100
# 05 applies Smith's recipe to a model of ours; it has smoke and small profiles, no paper one
NOTEBOOKS += $(if $(filter paper,$(PROFILE)),,05_disciplined_recipe)
# Notebook 04 is CIFAR-100's; where only CIFAR-10 is at hand: make figures DATASET_04=cifar10
DATASET_04 ?= cifar100

.PHONY: setup test figures estimate benchmark lab clean

# Executed and checked notebooks never hold a progress bar (paperlib/progress.py).
test figures: export PAPERLIB_PROGRESS = 0
setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,ray]'
	touch $(STAMP)

# The tests, the fused-runs check (4 runs fused against the same runs apart, step by step, in
# fp32; it exits non-zero above a relative difference of 1e-4), then nbval over the committed (smoke-executed) notebooks: --nbval-lax checks the
# cells marked NBVAL_CHECK_OUTPUT, after the sanitizer masks the trained numbers. runs/smoke goes
# first so that the notebooks train again instead of reloading finished smoke runs.
test: $(STAMP)
	$(PY) -m pytest
	$(PY) benchmarks/fused_check.py
	rm -rf runs/smoke
	$(PY) -m pytest --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg notebooks

# Runs every notebook with papermill into reports/<profile>/ (each notebook writes its figures,
# CSVs and JSONs to figures/, or figures/smoke/ for PROFILE=smoke); the wall time of each goes to
# reports/<profile>/timings.tsv. An executed notebook only replaces the old one once it finished.
figures: $(STAMP)
	@case "$(PROFILE)" in smoke|small|paper) ;; *) echo "PROFILE must be smoke, small or paper, not '$(PROFILE)'" >&2; exit 2;; esac
	@mkdir -p reports/$(PROFILE)
	$(PY) -m paperlib estimate --profile $(PROFILE)
	@for nb in $(NOTEBOOKS); do \
	  extra=""; if [ $$nb = 04_fig15_cifar100 ]; then extra="-p dataset $(DATASET_04)"; fi; \
	  partial=reports/$(PROFILE)/.$$nb.partial.ipynb; start=$$(date +%s); \
	  echo "papermill notebooks/$$nb.ipynb -p profile $(PROFILE) $$extra"; \
	  $(PY) -m papermill notebooks/$$nb.ipynb $$partial -p profile $(PROFILE) $$extra --no-progress-bar || exit 1; \
	  mv $$partial reports/$(PROFILE)/$$nb.ipynb; \
	  printf '%s\t%s\t%ss\n' "$$nb" "$(PROFILE)" "$$(( $$(date +%s) - start ))" | tee -a reports/$(PROFILE)/timings.tsv; \
	done

# The work ahead of a profile and its wall time on this device, from a short probe per figure.
estimate: $(STAMP)
	$(PY) -m paperlib estimate --profile $(PROFILE)

# Images/s of paperlib's fit vs a bare loop vs the textbook DataLoader pipeline (~2 min on a CPU).
# BENCH_ARGS="--device cuda --model resnet56 --batch-size 512" on a GPU.
benchmark: $(STAMP)
	$(PY) benchmarks/throughput.py $(BENCH_ARGS)

# JupyterLab on the project's environment, opened on the notebooks, to step through them.
# Containers often run as root, which JupyterLab refuses unless told: LAB_ARGS adds flags.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)
lab: $(STAMP)
	$(PY) -m jupyter lab notebooks/ $(LAB_ARGS)

clean:
	rm -rf .pytest_cache build
