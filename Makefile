# paperlib: `make figures` regenerates the figures, `make test` runs the tests.
# Both create the project's .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROFILE ?= small
OUT := figures

# Settings of the range test and the 1cycle run per profile (measured on 2 CPU cores: smoke 35 s,
# small 7 min).
FIND_smoke := --model resnet8 --subset 1000 --test-subset 500 --batch-size 64 --steps 40 --eval-every 10 --lr-min 0.01 --lr-max 3
TRAIN_smoke := --model resnet8 --subset 1000 --test-subset 500 --batch-size 64 --steps 60 --eval-every 20 --lr-min 0.08 --lr-max 0.8 --step-size 25
FIND_small := --model resnet8 --subset 25000 --test-subset 1000 --batch-size 128 --steps 800 --eval-every 25 --lr-min 0.01 --lr-max 4
TRAIN_small := --model resnet8 --test-subset 2000 --batch-size 128 --steps 1170 --eval-every 117 --lr-min 0.1 --lr-max 1 --step-size 540

.PHONY: setup test figures benchmark clean
setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

figures: $(STAMP)
	@case "$(PROFILE)" in smoke|small) ;; *) echo "PROFILE must be smoke or small, not '$(PROFILE)'" >&2; exit 2;; esac
	$(PY) -m paperlib lr-find --dataset cifar10 $(FIND_$(PROFILE)) --weight-decay 1e-4 --mode linear --out $(OUT)/$(PROFILE)/lr_find --overwrite
	$(PY) -m paperlib train --dataset cifar10 $(TRAIN_$(PROFILE)) --schedule one-cycle --style smith --mom-max 0.95 --mom-min 0.85 --weight-decay 1e-4 --out $(OUT)/$(PROFILE)/one_cycle --overwrite

# Images/s of paperlib's fit vs a bare loop vs the textbook DataLoader pipeline (~2 min on a CPU).
# BENCH_ARGS="--device cuda --model resnet56 --batch-size 512" on a GPU.
benchmark: $(STAMP)
	$(PY) benchmarks/throughput.py $(BENCH_ARGS)

clean:
	rm -rf .pytest_cache build
