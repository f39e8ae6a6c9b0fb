#!/usr/bin/env bash
# Regenerates the lock of the layer's runtime dependencies (make lock):
#   bash scripts/lock.sh UV layers/itom_forwarder/requirements.in layers/itom_forwarder/requirements.txt
# One universal resolution (every Python >= 3.11, every platform: the Lambda runtime's
# python3.13 on manylinux aarch64 as well as local 3.11/3.13 on x86_64 or aarch64), with the
# sha256 of every file (wheels and sdist) of each locked version, so that pip checks them
# wherever it installs from the file.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

uv="${1:?usage: lock.sh UV REQUIREMENTS_IN LOCK}"
requirements_in="${2:?usage: lock.sh UV REQUIREMENTS_IN LOCK}"
lock="${3:?usage: lock.sh UV REQUIREMENTS_IN LOCK}"

compile=(pip compile --universal --generate-hashes --python-version 3.11 "$requirements_in")
tmp="$(mktemp "${lock}.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
{
    cat <<EOF
# The lock of the itom_forwarder layer's runtime dependencies: every transitive dependency of
# the direct pins in requirements.in, with the hash of every file of each locked version.
# Generated: edit requirements.in, then regenerate this file with \`make lock\`, which runs
# (uv $("$uv" --version | cut -d' ' -f2), installed into .tools/uv from PyPI):
#   uv ${compile[*]}
# One resolution for every Python >= 3.11 and platform: the Lambda runtime (python3.13,
# manylinux aarch64) and the local 3.11/3.13 on x86_64 or aarch64 alike.
# \`sam build\` builds the layer from this file (BuildMethod python3.13, arm64), and the dev
# venvs install it with \`pip install --require-hashes\`. scripts/check-template.sh checks that
# it matches requirements.in and that the built layer holds exactly these versions.
EOF
    "$uv" --quiet "${compile[@]}" --no-header
} > "$tmp"
chmod 644 "$tmp"  # mktemp made it 0600
mv "$tmp" "$lock"
trap - EXIT
echo "wrote ${lock}: $(grep -cE '^[A-Za-z0-9]' "$lock") packages, $(grep -c -- '--hash=' "$lock") hashes"
