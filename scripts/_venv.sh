# Sourced by scripts/demo and scripts/test: create .venv at the repository root when
# missing and (re)install the project whenever pyproject.toml changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "installing into .venv (first run or pyproject.toml changed)..." >&2
    # pip's "Location ... is ignored" lines come from this machine's pip config: noise.
    .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 \
        | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
    .venv/bin/python -c "import archive, warcio, dagster, trafilatura" \
        || { echo "install into .venv failed; see the pip output above" >&2; exit 1; }
    rm -f .venv/.installed-*
    touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
