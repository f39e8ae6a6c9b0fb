#!/usr/bin/env bash
# Template checks: installs the SAM CLI (.tools/sam) and checkov (.tools/checkov) into venvs
# of their own when needed (their dependencies conflict), then
#   1. sam validate --lint (cfn-lint; no AWS credentials needed), once as is (the defaults:
#      DeliveryMode direct, every option off) and once on a temporary copy outside the tree
#      whose defaults switch every option on (DeliveryMode buffered, EnableTracing, the KMS
#      keys, OperationsTopicArn, ReservedConcurrency, ApiQuotaLimit; sam validate takes no
#      parameter overrides), then a local SAM transform of both checking that every
#      Ref/GetAtt/Sub target exists after the transform (cfn-lint does not flag e.g. an output
#      referencing a misspelt SAM-generated ID such as ForwarderApiApiKey) and that every API
#      method requires the API key,
#   1b. checkov (framework cloudformation) on template.yaml, the all-options copy and both
#      transformed templates: zero failed checks. Findings that do not apply are skipped in
#      place, on the resource (Metadata: checkov: skip, each with its reason); the transformed
#      templates inherit the skips of the SAM resource each resource was generated from.
#      --skip-download: no call to Prisma Cloud (no network needed),
#   2. sanity checks of events/*.json (they parse; sns-*.json are Lambda SNS events whose
#      Messages are JSON unless the name says plain-text; sqs-*.json are Lambda SQS events
#      (buffered mode) whose record bodies are SNS notification JSON (Type Notification,
#      Message a string) with a matching md5OfBody; apigateway-*.json are API Gateway
#      proxy events (REST payload 1.0 or HTTP API payload 2.0) whose body, base64-decoded
#      when isBase64Encoded, is JSON; redrive-*.json are RedriveFunction payloads (a JSON
#      object with action "replay"); every other file but env.json is a direct invocation
#      event: an EventBridge event or a CloudWatch alarm-action payload),
#   3. sam build for arm64 with Python 3.13 (skipped with a clear message when no 3.13 exists),
#      then prints the unzipped sizes of the built functions and layer.
# Exits non-zero on any failure. Run from anywhere: bash scripts/check-template.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SAM_VERSION="1.170.0"
SAM_VENV="$ROOT/.tools/sam"
SAM="$SAM_VENV/bin/sam"
CHECKOV_VERSION="3.3.30"
CHECKOV_VENV="$ROOT/.tools/checkov"
CHECKOV="$CHECKOV_VENV/bin/checkov"
REGION="eu-west-1"
BUILD_DIR=".aws-sam/build"

export SAM_CLI_TELEMETRY=0
# sam validate/build need no credentials; dummy values keep any boto3 lookup from failing
# or reaching for a real profile. Existing values are left alone.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-$REGION}"

log() { printf '\n==> %s\n' "$*"; }

# --- 0. SAM CLI and checkov, each in its own venv (SAM pins its own boto3, so not in the
# project venv; checkov's dependencies conflict with SAM's) ---------------------------------
PY="${SAM_PYTHON:-python3}"
python_ok() {
    "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null
}

sam_ok() {
    [ -x "$SAM" ] && "$SAM" --version 2>/dev/null | grep -qx "SAM CLI, version ${SAM_VERSION}"
}

if sam_ok; then
    log "SAM CLI ${SAM_VERSION} already in .tools/sam"
else
    if ! python_ok; then
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

checkov_ok() {
    [ -x "$CHECKOV" ] && [ "$("$CHECKOV" --version 2>/dev/null)" = "$CHECKOV_VERSION" ]
}

if checkov_ok; then
    log "checkov ${CHECKOV_VERSION} already in .tools/checkov"
else
    if ! python_ok; then
        echo "error: ${PY} (>= 3.10) is needed to install checkov ${CHECKOV_VERSION}; set SAM_PYTHON" >&2
        exit 1
    fi
    log "Installing checkov==${CHECKOV_VERSION} into .tools/checkov (with $("$PY" --version 2>&1))"
    mkdir -p "$ROOT/.tools"
    "$PY" -m venv --clear "$CHECKOV_VENV"
    "$CHECKOV_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==${CHECKOV_VERSION}"
    if ! checkov_ok; then
        echo "error: checkov ${CHECKOV_VERSION} not usable after install" >&2
        "$CHECKOV" --version >&2 || true
        exit 1
    fi
fi
echo "checkov $("$CHECKOV" --version)"

# --- 1. validate + lint ------------------------------------------------------------------
log "sam validate --lint --region ${REGION}"
"$SAM" validate --lint --region "$REGION" --template-file template.yaml

# cfn-lint already weighs every combination of conditions; linting a copy whose defaults
# switch every option on catches anything that only shows once those branches are the ones
# taken by default, and gives checkov (which follows the defaults: it leaves out a resource
# whose condition is false, e.g. BufferQueue in direct mode) every resource and statement.
log "sam validate --lint --region ${REGION} with every option on by default (temporary copy)"
CHECK_DIR="$(mktemp -d)"
trap 'rm -rf "$CHECK_DIR"' EXIT
mkdir -p "$CHECK_DIR/options-on"
OPTIONS_ON="$CHECK_DIR/options-on/template.yaml"
"$SAM_VENV/bin/python" - "$OPTIONS_ON" <<'PY'
import re
import sys

KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
# parameter: (default in template.yaml, default in the copy)
DEFAULTS = {
    "DeliveryMode": ("direct", "buffered"),
    "EnableTracing": ('"false"', '"true"'),
    "QueueKmsKeyArn": ('""', KMS_KEY),
    "SecretKmsKeyArn": ('""', KMS_KEY),
    "AlarmTopicKmsKeyArn": ('""', KMS_KEY),
    "OperationsTopicArn": ('""', "arn:aws:sns:eu-west-1:123456789012:operations"),
    "ReservedConcurrency": ("0", "10"),
    "ApiQuotaLimit": ("0", "100000"),
}
text = open("template.yaml").read()
for name, (old, new) in DEFAULTS.items():
    # Only the Default line of that parameter block.
    pattern = r"(\n  %s:\n(?:    .*\n)*?    Default: )%s\n" % (name, re.escape(old))
    text, count = re.subn(pattern, lambda m: m.group(1) + new + "\n", text, count=1)
    if count != 1:
        sys.exit(f"error: no 'Default: {old}' in the {name} parameter of template.yaml")
open(sys.argv[1], "w").write(text)
PY
"$SAM" validate --lint --region "$REGION" --template-file "$OPTIONS_ON"

log "References and API keys in the transformed templates (SAM-generated logical IDs)"
"$SAM_VENV/bin/python" - template.yaml "$CHECK_DIR/transformed.json" "$OPTIONS_ON" "$CHECK_DIR/options-on/transformed.json" <<'PY'
import copy
import json
import logging
import re
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    def load(self):
        return {}


# Quiet the feature-toggle notices (no toggle config is loaded locally); errors still show.
logging.getLogger("samtranslator").setLevel(logging.ERROR)


def check(source_path, out_path):
    label = source_path if source_path == "template.yaml" else "all-options copy"
    source = yaml_parse(open(source_path).read())
    template = copy.deepcopy(source)
    # The transform wants S3 locations; local paths are what sam build/package replace anyway.
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = "s3://placeholder-bucket/placeholder-key"
    out = transform(template, {}, NoManagedPolicies())
    resources = out.get("Resources", {})
    known = set(resources) | set(out.get("Parameters", {}))
    missing = set()

    def target_ok(name):
        return name.startswith("AWS::") or name.split(".")[0] in known

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"Ref"} and isinstance(node["Ref"], str) and not target_ok(node["Ref"]):
                missing.add(node["Ref"])
            if set(node) == {"Fn::GetAtt"}:
                target = node["Fn::GetAtt"]
                name = target[0] if isinstance(target, list) else str(target).split(".")[0]
                if isinstance(name, str) and not target_ok(name):
                    missing.add(name)
            if set(node) == {"Fn::Sub"}:
                sub = node["Fn::Sub"]
                text, variables = (sub[0], sub[1]) if isinstance(sub, list) else (sub, {})
                if isinstance(text, str):
                    for name in re.findall(r"\$\{([^!}][^}]*)\}", text):
                        if name not in variables and not target_ok(name):
                            missing.add(name)
                walk(variables)
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(resources)
    walk(out.get("Outputs", {}))
    if missing:
        sys.exit(f"  FAIL {label}: references to nothing after the transform: " + ", ".join(sorted(missing)))

    # Every API method requires the API key: a method resource with ApiKeyRequired true, or an
    # operation of a REST API's OpenAPI body whose security names the api_key scheme (SAM's
    # form of Auth.ApiKeyRequired).
    methods = 0
    open_methods = []
    for name, resource in resources.items():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::ApiGateway::Method":
            methods += 1
            if props.get("HttpMethod") != "OPTIONS" and props.get("ApiKeyRequired") is not True:
                open_methods.append(name)
        elif resource.get("Type") == "AWS::ApiGateway::RestApi":
            for path, operations in ((props.get("Body") or {}).get("paths") or {}).items():
                for verb, operation in (operations or {}).items():
                    if not isinstance(operation, dict) or verb.startswith("x-") or verb == "options":
                        continue
                    methods += 1
                    if not any("api_key" in (item or {}) for item in operation.get("security") or []):
                        open_methods.append(f"{name} {verb.upper()} {path}")
        elif resource.get("Type", "").startswith("AWS::ApiGatewayV2::"):
            open_methods.append(f"{name}: HTTP/WebSocket APIs have no API keys")
    if open_methods:
        sys.exit(f"  FAIL {label}: API methods without the API key: " + "; ".join(open_methods))
    if not methods:
        sys.exit(f"  FAIL {label}: no API method found after the transform")

    # checkov reads skips only from each resource's own Metadata, which SAM does not copy to
    # the resources it generates: give each one the skips of the SAM resource it comes from
    # (same logical ID, or the longest SAM resource ID its generated ID starts with).
    sam_ids = sorted(
        (name for name, resource in source.get("Resources", {}).items()
         if str(resource.get("Type", "")).startswith("AWS::Serverless::")),
        key=len, reverse=True)
    for name, resource in resources.items():
        if name in source.get("Resources", {}) and name not in sam_ids:
            continue
        origin = next((sam_id for sam_id in sam_ids if name.startswith(sam_id)), None)
        skips = ((source["Resources"].get(origin) or {}).get("Metadata") or {}).get("checkov") if origin else None
        if skips and "checkov" not in (resource.get("Metadata") or {}):
            resource.setdefault("Metadata", {})["checkov"] = copy.deepcopy(skips)
    with open(out_path, "w") as handle:
        json.dump(out, handle, indent=1)
    print(f"  ok  {label}: {len(resources)} resources after the transform; every reference "
          f"resolves; {methods} API methods, all with the API key")


args = sys.argv[1:]
for source_path, out_path in zip(args[::2], args[1::2]):
    check(source_path, out_path)
PY

log "checkov ${CHECKOV_VERSION} (cloudformation): template.yaml, the all-options copy, both transformed"
"$CHECKOV" --framework cloudformation --quiet --compact --skip-download \
    -f template.yaml "$OPTIONS_ON" "$CHECK_DIR/transformed.json" "$CHECK_DIR/options-on/transformed.json"

# --- 2. sample events --------------------------------------------------------------------
log "Checking events/*.json"
"$SAM_VENV/bin/python" - <<'PY'
import base64
import binascii
import glob
import hashlib
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
    if name.startswith("sqs-"):
        # A Lambda SQS event as the buffered mode delivers it: each record's body is the SNS
        # notification JSON (raw message delivery off), whose Message is a string.
        records = doc.get("Records") if isinstance(doc, dict) else None
        if not isinstance(records, list) or not records:
            failures.append(f"{path}: no Records")
            continue
        message_ids = set()
        for i, record in enumerate(records):
            if not isinstance(record, dict) or record.get("eventSource") != "aws:sqs":
                failures.append(f"{path}: Records[{i}] is not an SQS record (eventSource aws:sqs)")
                continue
            message_id = record.get("messageId")
            if not isinstance(message_id, str) or message_id in message_ids:
                failures.append(f"{path}: Records[{i}].messageId is missing or repeated")
            message_ids.add(message_id)
            body = record.get("body")
            if not isinstance(body, str):
                failures.append(f"{path}: Records[{i}].body is not a string")
                continue
            if record.get("md5OfBody") != hashlib.md5(body.encode("utf-8")).hexdigest():
                failures.append(f"{path}: Records[{i}].md5OfBody does not match the body")
            try:
                notification = json.loads(body)
            except ValueError as exc:
                failures.append(f"{path}: Records[{i}].body is not JSON: {exc}")
                continue
            if not isinstance(notification, dict) or notification.get("Type") != "Notification":
                failures.append(f"{path}: Records[{i}].body is not an SNS notification (Type Notification)")
                continue
            if not isinstance(notification.get("Message"), str):
                failures.append(f"{path}: Records[{i}].body Message is not a string")
    elif name.startswith("redrive-"):
        # A RedriveFunction payload (an operator's invocation).
        if not isinstance(doc, dict) or doc.get("action") != "replay":
            failures.append(f"{path}: not a JSON object with action \"replay\"")
            continue
        if "dry_run" in doc and not isinstance(doc["dry_run"], bool):
            failures.append(f"{path}: dry_run is not a boolean")
        max_messages = doc.get("max_messages", 1)
        if isinstance(max_messages, bool) or not isinstance(max_messages, int) or max_messages < 1:
            failures.append(f"{path}: max_messages is not a positive integer")
    elif name.startswith("sns-"):
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
    elif name.startswith("apigateway-"):
        # An API Gateway Lambda proxy event: REST API (payload 1.0: httpMethod + requestContext
        # + body) or HTTP API (payload 2.0: version "2.0" + routeKey + requestContext). The
        # body is a string holding JSON, base64-encoded when isBase64Encoded is true.
        if not isinstance(doc, dict):
            failures.append(f"{path}: not a JSON object")
            continue
        context = doc.get("requestContext")
        if not isinstance(context, dict):
            failures.append(f"{path}: no requestContext object")
            continue
        if doc.get("version") == "2.0":
            if not isinstance(doc.get("routeKey"), str):
                failures.append(f"{path}: payload 2.0 (HTTP API) event without routeKey")
                continue
            # Powertools strips a named stage from rawPath: it must start with /<stage>/.
            stage, raw_path = context.get("stage"), doc.get("rawPath")
            if isinstance(stage, str) and stage != "$default" and isinstance(raw_path, str):
                if not raw_path.startswith(f"/{stage}/"):
                    failures.append(f"{path}: rawPath {raw_path!r} does not start with the stage /{stage}/")
                    continue
        elif not isinstance(doc.get("httpMethod"), str):
            failures.append(f"{path}: neither httpMethod (REST, payload 1.0) nor version 2.0 + routeKey (HTTP API)")
            continue
        body = doc.get("body")
        if not isinstance(body, str):
            failures.append(f"{path}: body is not a string")
            continue
        if doc.get("isBase64Encoded") is True:
            try:
                body = base64.b64decode(body, validate=True).decode("utf-8")
            except (binascii.Error, ValueError) as exc:
                failures.append(f"{path}: isBase64Encoded but the body is not base64 UTF-8: {exc}")
                continue
        try:
            json.loads(body)
        except ValueError as exc:
            failures.append(f"{path}: body is not JSON: {exc}")
            continue
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
du -sh "$BUILD_DIR/ForwarderFunction" "$BUILD_DIR/RedriveFunction" "$BUILD_DIR"/ForwarderLayer*
