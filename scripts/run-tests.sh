#!/usr/bin/env bash
# Runs the test suite (pytest) on several interpreters at once (make unit-tests: Python 3.11
# from .venv and the Lambda runtime's 3.13 from .venv-3.13; the machine has 2 cores and one
# run keeps about one busy), then prints one result line per interpreter. Exits non-zero if
# any run fails.
#
#   bash scripts/run-tests.sh PYTHON [PYTHON | --skip REASON]... [-- PYTEST_ARGS...]
#
# The first interpreter's output streams as it runs; the others' are captured and printed
# after it, each under its own heading. Runs do not share state: each gets its own TMPDIR
# (the code writes the secret's CA certificate to the temporary directory), and every run but
# the first its own pytest cache and Hypothesis directory inside its venv (the first keeps
# .pytest_cache and .hypothesis). The servers the tests start listen on ephemeral loopback
# ports.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

pythons=()
skipped=()
while [ $# -gt 0 ]; do
    case "$1" in
        --) shift; break ;;
        --skip) skipped+=("${2:?--skip needs a reason}"); shift 2 ;;
        *) pythons+=("$1"); shift ;;
    esac
done
pytest_args=("$@")
if [ ${#pythons[@]} -eq 0 ]; then
    echo "usage: run-tests.sh PYTHON [PYTHON | --skip REASON]... [-- PYTEST_ARGS...]" >&2
    exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/run-tests.XXXXXX")"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        pkill -P "$pid" 2>/dev/null || true  # its pytest
        kill "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

labels=()
for i in "${!pythons[@]}"; do
    labels+=("Python $("${pythons[$i]}" -c 'import platform; print(platform.python_version())') (${pythons[$i]})")
done

# run_one INDEX: pytest on pythons[INDEX]; its exit code and duration go to files in $work.
run_one() {
    local i="$1" python="${pythons[$1]}" venv start rc
    venv="$(dirname "$(dirname "$python")")"
    local options=()
    local environment=("TMPDIR=$work/tmp-$i")
    if [ "$i" -gt 0 ]; then
        options+=(-o "cache_dir=$venv/.pytest_cache")
        environment+=("HYPOTHESIS_STORAGE_DIRECTORY=$venv/.hypothesis")
    fi
    mkdir -p "$work/tmp-$i"
    start="$(date +%s)"
    rc=0
    env "${environment[@]}" "$python" -m pytest "${options[@]}" "${pytest_args[@]}" || rc=$?
    echo "$rc" > "$work/rc-$i"
    echo "$(( $(date +%s) - start ))" > "$work/seconds-$i"
}

for i in "${!pythons[@]}"; do
    if [ "$i" -gt 0 ]; then
        run_one "$i" > "$work/log-$i" 2>&1 &
        pids+=("$!")
    fi
done
if [ ${#pythons[@]} -gt 1 ]; then
    printf '\n==> pytest on %s (the other interpreters run at the same time; their output follows)\n' "${labels[0]}"
else
    printf '\n==> pytest on %s\n' "${labels[0]}"
fi
run_one 0 2>&1 | tee "$work/log-0"
for pid in "${pids[@]}"; do
    wait "$pid" || true
done
pids=()

for i in "${!pythons[@]}"; do
    if [ "$i" -gt 0 ]; then
        printf '\n==> pytest on %s (ran at the same time as the first)\n' "${labels[$i]}"
        cat "$work/log-$i"
    fi
done

printf '\n==> Test results\n'
status=0
for i in "${!pythons[@]}"; do
    rc="$(cat "$work/rc-$i" 2>/dev/null || echo 1)"
    seconds="$(cat "$work/seconds-$i" 2>/dev/null || echo '?')"
    # pytest's own closing line ("== 364 passed, 1 warning in 222.83s (0:03:42) ==").
    closing="$(grep -E '^=+ .* in [0-9.]+s.* =+$' "$work/log-$i" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//' || true)"
    if [ "$rc" -eq 0 ]; then verdict="ok"; else verdict="FAILED (pytest exit ${rc})"; status=1; fi
    printf '  %-58s %s, %ss wall%s\n' "${labels[$i]}:" "$verdict" "$seconds" "${closing:+ — $closing}"
done
for reason in "${skipped[@]}"; do
    printf '  SKIPPED: %s\n' "$reason"
done
exit "$status"
