#!/usr/bin/env bash
# Installs everything hum needs, once; a second run only checks stamps.
#   scripts/setup.sh          venv + hum + the embedded local model
#   scripts/setup.sh --test   ... plus test tools, npm clients and Chromium
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${HUM_CACHE:-$HOME/.cache/hum}"
WHEELS="$CACHE/wheels"
NPM_DIR="${HUM_NPM_DIR:-$CACHE/npm}"
LLAMA_VERSION="0.3.36"
VENV=".venv"
PY="${PYTHON:-python3}"
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

mkdir -p "$WHEELS"

if [[ ! -x "$VENV/bin/python" ]]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
fi

# llama-cpp-python has no binary wheel for this machine: build it once, keep the wheel.
if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  say "building llama-cpp-python $LLAMA_VERSION from source (about 6 minutes on 2 cores, only once;"
  say "the wheel is kept in $WHEELS). Compiler progress follows."
  "$VENV/bin/pip" wheel --no-deps -v "llama-cpp-python==$LLAMA_VERSION" -w "$WHEELS" 2>&1 \
    | grep --line-buffered -E '^\s*\[ *[0-9]+/[0-9]+\]|^\s*\[ *[0-9]+%\]|Building wheel|Successfully|ERROR|error:' \
    | sed -u -E -e 's#^ *\[ *([0-9]+)/([0-9]+)\].* -o ([^ ]*/)?([^ /]+)( .*)?$#    llama.cpp build step \1 of \2: \4#' \
                -e 's#^ *\[ *([0-9]+)/([0-9]+)\].*#    llama.cpp build step \1 of \2#' || true
  ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1 \
    || { echo "setup: building llama-cpp-python failed (see above)" >&2; exit 1; }
fi

extras="local"
(( want_test )) && extras="local,test"
stamp="$VENV/.installed-$(hash_of pyproject.toml scripts/setup.sh)-${extras/,/-}"
if [[ ! -f "$stamp" ]]; then
  say "installing hum[$extras] into $VENV"
  # (this machine's pip config names index folders that may not exist; pip warns per package)
  "$VENV/bin/pip" install -q --disable-pip-version-check --find-links "$WHEELS" -e ".[$extras]" 2>&1 \
    | { grep -v "^WARNING: Location 'file:" || true; }
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi

# iroh (`hum up --iroh`, `iroh:` peers) has binary wheels for a few platforms
# only; where pip finds none, hum runs without it (TCP and relay links still work).
iroh_stamp="$VENV/.iroh-$(hash_of pyproject.toml scripts/setup.sh)"
if [[ ! -f "$iroh_stamp" ]]; then
  if "$VENV/bin/pip" install -q --disable-pip-version-check --only-binary iroh -e ".[iroh]" >/dev/null 2>&1; then
    say "iroh installed (hum up --iroh)"
  else
    say "no iroh wheel for this platform: iroh links are off here (TCP and relay links work)"
  fi
  rm -f "$VENV"/.iroh-*
  touch "$iroh_stamp"
fi

(( want_test )) || exit 0

# npm clients the real-client tests drive (claude, opencode, the ai SDK, playwright-core).
npm_stamp="$NPM_DIR/.installed-$(hash_of tools/package.json)"
if [[ ! -f "$npm_stamp" ]]; then
  say "installing npm test clients into $NPM_DIR (once)"
  mkdir -p "$NPM_DIR"
  cp tools/package.json "$NPM_DIR/package.json"
  set +e
  (cd "$NPM_DIR" && npm install --no-audit --no-fund --loglevel=http 2>&1) | tee "$NPM_DIR/install.log" \
    | grep --line-buffered '^npm http fetch GET' | sed -u -E 's#^npm http fetch GET [0-9]+ [^ ]*/([^/ ]+) .*#    fetched \1#'
  npm_status=${PIPESTATUS[0]}
  set -e
  if [[ $npm_status -ne 0 ]]; then
    tail -20 "$NPM_DIR/install.log" >&2
    echo "setup: npm install failed (log: $NPM_DIR/install.log)" >&2
    exit 1
  fi
  rm -f "$NPM_DIR"/.installed-*
  touch "$npm_stamp"
fi

# Debian's Chromium for the browser test (test tools may not download browsers here).
if ! command -v chromium >/dev/null 2>&1; then
  say "installing Debian's chromium for the browser test (once)"
  export DEBIAN_FRONTEND=noninteractive
  sudo=""
  [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q --no-install-recommends chromium | grep --line-buffered -E '^(Get|Unpacking|Setting up) ' || true
  command -v chromium >/dev/null || { echo "setup: installing chromium failed" >&2; exit 1; }
fi
# iproute2's `ip`: the off-loopback browser test gives a private network namespace an address that is not loopback.
if ! command -v ip >/dev/null 2>&1; then
  say "installing iproute2 for the off-loopback browser test (once)"
  sudo=""
  [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends iproute2 >/dev/null
  command -v ip >/dev/null || { echo "setup: installing iproute2 failed" >&2; exit 1; }
fi
