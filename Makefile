# The two commands of the README. Everything they need is installed by
# scripts/setup.sh, once; later runs only check its stamps.
.PHONY: up test demo lint bench

up:
	@scripts/setup.sh
	.venv/bin/hum up --init

test:
	@scripts/setup.sh --test
	HUM_NPM_DIR=$${HUM_NPM_DIR:-$$HOME/.cache/hum/npm} .venv/bin/python -m pytest -q
	.venv/bin/ruff check src tests

demo:
	@scripts/setup.sh
	.venv/bin/hum demo roam

bench:
	@scripts/setup.sh --test
	@scripts/bench-setup.sh
	.venv/bin/hum bench --json
