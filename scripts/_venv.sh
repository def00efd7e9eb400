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
    # pip before 23.3 compares extra names unnormalised (PEP 685): jusText asks for
    # lxml[html_clean], lxml publishes it as html-clean, and the old pip warns that lxml
    # "does not provide the extra" (it does). A pip that reads them as the same comes first.
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade 'pip>=23.3' 2>&1 \
        | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
    # pip's "Location ... is ignored" lines come from this machine's pip config: noise.
    # setuptools' editable install says, as an InformationOnly warning, that folders
    # named like the package take precedence: true of any flat layout, and noise here.
    PYTHONWARNINGS="ignore::UserWarning:setuptools.command.editable_wheel" \
    .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 \
        | grep -v "is ignored: it is neither a file nor a directory" >&2 || true
    .venv/bin/python -c "import archive, warcio, dagster, trafilatura" \
        || { echo "install into .venv failed; see the pip output above" >&2; exit 1; }
    rm -f .venv/.installed-*
    touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
