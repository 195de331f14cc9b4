.DEFAULT_GOAL := help
PY ?= python3

help: ## list the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: ## install the indexer with its test tools (editable)
	$(PY) -m pip install -e '.[test,demo]'

test: ## run the test suite (real PostgreSQL; see README)
	$(PY) -m pytest

lint: ## ruff + mypy (strict)
	ruff check indexer tests scripts
	mypy indexer scripts

check: lint test ## what CI runs (.ci/run): lint, then the tests

demo: ## index the bundled scripted chain and print a shared pool's accounting
	indexer demo

bench: ## the benchmark of README "Measured" (~5 min cached, ~9 the first time; BENCH_ARGS=--quick: less)
	$(PY) scripts/bench_decode.py --seconds 2 $(if $(findstring --quick,$(BENCH_ARGS)),--blocks 5000 --frames 2000,)
	$(PY) scripts/bench_e2e.py $(BENCH_ARGS)

simulator: ## serve the demo chain on ws://127.0.0.1:1337
	$(PY) -m indexer.demo.serve --port 1337 --scenario demo

.PHONY: help install test lint check demo bench simulator
