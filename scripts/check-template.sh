#!/usr/bin/env bash
# Template checks: installs the SAM CLI into its own venv (.tools/sam) when needed, then
#   1. sam validate --lint (cfn-lint; no AWS credentials needed),
#   2. sanity checks of events/*.json (they parse; sns-*.json are Lambda SNS events whose
#      Messages are JSON unless the name says plain-text; every other file but env.json is a
#      direct invocation event: an EventBridge event or a CloudWatch alarm-action payload),
#   3. sam build for arm64 with Python 3.13 (skipped with a clear message when no 3.13 exists),
#      then prints the unzipped sizes of the built function and layer.
# Exits non-zero on any failure. Run from anywhere: bash scripts/check-template.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SAM_VERSION="1.170.0"
SAM_VENV="$ROOT/.tools/sam"
SAM="$SAM_VENV/bin/sam"
REGION="eu-west-1"
BUILD_DIR=".aws-sam/build"

export SAM_CLI_TELEMETRY=0
# sam validate/build need no credentials; dummy values keep any boto3 lookup from failing
# or reaching for a real profile. Existing values are left alone.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-$REGION}"

log() { printf '\n==> %s\n' "$*"; }

# --- 0. SAM CLI in its own venv (SAM pins its own boto3, so not in the project venv) -----
sam_ok() {
    [ -x "$SAM" ] && "$SAM" --version 2>/dev/null | grep -qx "SAM CLI, version ${SAM_VERSION}"
}

if sam_ok; then
    log "SAM CLI ${SAM_VERSION} already in .tools/sam"
else
    PY="${SAM_PYTHON:-python3}"
    if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
        echo "error: ${PY} (>= 3.10) is needed to install aws-sam-cli ${SAM_VERSION}; set SAM_PYTHON" >&2
        exit 1
    fi
    log "Installing aws-sam-cli==${SAM_VERSION} into .tools/sam (with $("$PY" --version 2>&1))"
    mkdir -p "$ROOT/.tools"
    "$PY" -m venv --clear "$SAM_VENV"
    "$SAM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "aws-sam-cli==${SAM_VERSION}"
    if ! sam_ok; then
        echo "error: SAM CLI ${SAM_VERSION} not usable after install" >&2
        "$SAM" --version >&2 || true
        exit 1
    fi
fi
"$SAM" --version

# --- 1. validate + lint ------------------------------------------------------------------
log "sam validate --lint --region ${REGION}"
"$SAM" validate --lint --region "$REGION" --template-file template.yaml

# --- 2. sample events --------------------------------------------------------------------
log "Checking events/*.json"
"$SAM_VENV/bin/python" - <<'PY'
import glob
import json
import os
import sys

failures = []
paths = sorted(glob.glob("events/*.json"))
if not paths:
    failures.append("no events/*.json found")
for path in paths:
    raw = open(path, "rb").read()
    if b"\r" in raw:
        failures.append(f"{path}: CRLF line endings")
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        failures.append(f"{path}: not JSON: {exc}")
        continue
    if path.endswith("/env.json"):
        if not isinstance(doc.get("ForwarderFunction"), dict):
            failures.append(f"{path}: expected a ForwarderFunction object")
        else:
            print(f"  ok  {path}")
        continue
    name = os.path.basename(path)
    if name.startswith("sns-"):
        # A Lambda SNS event: Records[].Sns.Message is a string, JSON unless the name says
        # plain-text.
        records = doc.get("Records") if isinstance(doc, dict) else None
        if not isinstance(records, list) or not records:
            failures.append(f"{path}: no Records")
            continue
        for i, record in enumerate(records):
            if not isinstance(record, dict) or record.get("EventSource") != "aws:sns":
                failures.append(f"{path}: Records[{i}] is not an SNS record (EventSource aws:sns)")
                continue
            sns = record.get("Sns") if isinstance(record.get("Sns"), dict) else {}
            message = sns.get("Message")
            if not isinstance(message, str):
                failures.append(f"{path}: Records[{i}].Sns.Message is not a string")
                continue
            should_be_json = "plain-text" not in name
            try:
                json.loads(message)
                is_json = True
            except ValueError:
                is_json = False
            if is_json != should_be_json:
                kind = "JSON" if should_be_json else "plain text"
                failures.append(f"{path}: Records[{i}].Sns.Message should be {kind}")
    else:
        # A direct invocation event: an EventBridge event (detail-type + detail) or the payload
        # of a CloudWatch alarm's Lambda action (alarmArn + alarmData), both from aws.cloudwatch.
        if not isinstance(doc, dict):
            failures.append(f"{path}: not a JSON object")
            continue
        if doc.get("source") != "aws.cloudwatch":
            failures.append(f"{path}: source is not aws.cloudwatch (not a direct invocation event)")
            continue
        eventbridge = isinstance(doc.get("detail-type"), str) and isinstance(doc.get("detail"), dict)
        alarm_action = isinstance(doc.get("alarmArn"), str) and isinstance(doc.get("alarmData"), dict)
        if not (eventbridge or alarm_action):
            failures.append(f"{path}: neither detail-type + detail (EventBridge) nor alarmArn + alarmData (alarm action)")
            continue
    if not any(f.startswith(f"{path}:") for f in failures):
        print(f"  ok  {path}")
if failures:
    print("\n".join("  FAIL " + f for f in failures), file=sys.stderr)
    sys.exit(1)
PY

# --- 3. build (arm64, python3.13) --------------------------------------------------------
PY313=""
if command -v pyenv >/dev/null 2>&1; then
    PY313="$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$' | sort -V | tail -n 1 || true)"
fi

if [ -n "$PY313" ]; then
    log "sam build with pyenv Python ${PY313} (arm64)"
    # sam build looks for python3.13 on PATH: make sure pyenv's shims are on it.
    export PATH="$(pyenv root)/shims:$PATH"
    PYENV_VERSION="$PY313" "$SAM" build --template-file template.yaml --build-dir "$BUILD_DIR"
elif command -v python3.13 >/dev/null 2>&1 && python3.13 -c 'import sys' >/dev/null 2>&1; then
    log "sam build with $(python3.13 --version) from PATH (arm64)"
    "$SAM" build --template-file template.yaml --build-dir "$BUILD_DIR"
else
    log "python3.13 not found: skipping sam build"
    exit 0
fi

# Native wheels must be aarch64: fail if any x86_64 wheel slipped into the artefacts.
if grep -rlE '^Tag: .*x86_64' --include=WHEEL "$BUILD_DIR" >/dev/null 2>&1; then
    echo "error: x86_64 wheels found in the arm64 build:" >&2
    grep -rlE '^Tag: .*x86_64' --include=WHEEL "$BUILD_DIR" >&2
    exit 1
fi

log "Unzipped size of the build artefacts (Lambda limit: 250 MB function + layers)"
du -sh "$BUILD_DIR/ForwarderFunction" "$BUILD_DIR"/ForwarderLayer*
