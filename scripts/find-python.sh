#!/usr/bin/env bash
# Prints the path of a working Python VERSION interpreter (e.g. 3.13): pyenv's newest
# VERSION.x, else pythonVERSION on PATH (resolved to the real executable, so that a pyenv
# shim of a version not selected does not count). Prints nothing, and exits 0, when there is
# none. Usage: bash scripts/find-python.sh 3.13
set -euo pipefail

version="${1:?usage: find-python.sh VERSION (e.g. 3.13)}"
check="import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '${version}' else 1)"

works() {
    "$1" -c "$check" >/dev/null 2>&1
}

if command -v pyenv >/dev/null 2>&1; then
    newest="$(pyenv versions --bare 2>/dev/null | grep -E "^${version//./\\.}(\\.[0-9]+)?\$" | sort -V | tail -n 1 || true)"
    if [ -n "$newest" ]; then
        candidate="$(pyenv root)/versions/${newest}/bin/python${version}"
        if works "$candidate"; then
            echo "$candidate"
            exit 0
        fi
    fi
fi

if command -v "python${version}" >/dev/null 2>&1 && works "python${version}"; then
    "python${version}" -c 'import sys; print(sys.executable)'
fi
