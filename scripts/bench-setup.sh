#!/usr/bin/env bash
# What `hum bench` needs beyond the test set-up, once: the LiteLLM proxy it
# measures /v1 against, and py-spy to see where a humd's time goes.
# Pinned: LiteLLM has had compromised releases on PyPI; these are known-good.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=".venv"
LITELLM="litellm[proxy]==1.106.12"
PYSPY="py-spy==0.4.3"
stamp="$VENV/.bench-$(echo "$LITELLM $PYSPY" | sha256sum | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  printf '\033[1m==> installing %s and %s into %s (once)\033[0m\n' "$LITELLM" "$PYSPY" "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$LITELLM" "$PYSPY" 2>&1 \
    | { grep -v "^WARNING: Location 'file:" || true; }
  touch "$stamp"
fi
