# Sourced by scripts/serve and scripts/test: a project-local virtualenv in .venv, (re)installed
# when pyproject.toml changes. Needs only Python 3.11+ on PATH (as python3, or $PYTHON).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "konex hotline needs Python 3.11 or newer as '$PYTHON' (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
extras=${1:-}
stamp=.venv/.installed
want="$(cat pyproject.toml | "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())') ${extras}"
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv ..." >&2
  "$PYTHON" -m venv .venv
fi
have=$(cat "$stamp" 2>/dev/null || true)
if [ "$have" != "$want" ] && ! { [ -z "$extras" ] && [ "${have% *}" = "${want% *}" ]; }; then
  echo "installing dependencies into .venv ..." >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
  echo "$want" > "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"

# The tests' OpenID provider (npm's oidc-provider, pinned by tests/oidc/package-lock.json) for
# the single sign-on tests: installed with `npm ci`, again only when the lock file changes.
# Without node and npm those tests are skipped (they say why).
if [ "$extras" = dev ] && command -v npm >/dev/null 2>&1; then
  lock=$(sha256sum tests/oidc/package-lock.json | cut -d' ' -f1)
  if [ "$(cat tests/oidc/node_modules/.installed 2>/dev/null || true)" != "$lock" ]; then
    echo "installing the tests' OpenID provider (npm ci --prefix tests/oidc) ..." >&2
    npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error >/dev/null
    echo "$lock" > tests/oidc/node_modules/.installed
  fi
fi
