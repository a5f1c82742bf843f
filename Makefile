# The two commands of the README. Everything they need is installed by
# scripts/setup.sh, once; later runs only check its stamps.
.PHONY: up test demo lint bench fuzz

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

# Every fuzz target with HUM_FUZZ_EXAMPLES inputs (100,000 unless set): the
# hypothesis targets against real humds, then atheris on the pure parsers when
# it installs here. `make test` runs the same targets with a few hundred inputs.
fuzz:
	@scripts/setup.sh --test
	HUM_FUZZ_EXAMPLES=$${HUM_FUZZ_EXAMPLES:-100000} .venv/bin/python -m pytest -q tests/fuzz
	@if .venv/bin/python -c "import atheris" 2>/dev/null || .venv/bin/pip install -q atheris; then \
	  for target in framing pairing openai; do \
	    .venv/bin/python tests/fuzz/atheris_targets.py $$target -runs=$${HUM_FUZZ_EXAMPLES:-100000} || exit 1; \
	  done; \
	else echo "atheris does not install here: hypothesis targets only"; fi
