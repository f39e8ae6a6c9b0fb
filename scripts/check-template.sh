#!/usr/bin/env bash
# Template checks: installs the SAM CLI (.tools/sam) and checkov (.tools/checkov) into venvs
# of their own when needed (their dependencies conflict), then
#   1. sam validate --lint (cfn-lint; no AWS credentials needed), once as is (the defaults:
#      DeliveryMode direct, every option off) and once on a temporary copy outside the tree
#      whose defaults switch every option on (DeliveryMode buffered, EnableTracing, the KMS
#      keys, OperationsTopicArn, ReservedConcurrency, ApiQuotaLimit, IngestSecretArn,
#      OrganizationId, every Forward* AWS service event source; sam
#      validate takes no parameter overrides), then a local SAM transform of both checking that
#      every Ref/GetAtt/Sub target exists after the transform (cfn-lint does not flag e.g. an
#      output referencing a misspelt SAM-generated ID such as ForwarderApiApiKey) and the API
#      keys: POST /events requires the API key, POST /alertmanager and POST /grafana must not
#      (the function authenticates their senders against the ingest secret), and any other
#      method must require it; then the transformed template.yaml resolved for parameter
#      combinations (conditions evaluated, as CloudFormation would): OrderingGuard on (the
#      alert-state table, ALERT_STATE_TABLE, dynamodb:UpdateItem on that table only) and off
#      (no table, no DynamoDB statement), RedriveScheduleMinutes 0 (no schedule), 1, 5 and 1440
#      (the rate expression, the run request, the scheduler role's trust and permission),
#      DeadLetterQueueAgeAlarm (the DLQ's ApproximateAgeOfOldestMessage, the depth alarm's
#      actions), the ingest secret (IngestSecretArn set: the forwarder's INGEST_SECRET_ID and
#      its ReadIngestSecret statement on that secret only, with SecretKmsKeyArn the decryption
#      for its encryption context too; unset: INGEST_SECRET_ID "", no such statement; the
#      redrive function never reads it) and the webhook routes (the stage throttles each with
#      WebhookBurstLimit and WebhookRateLimit; the gateway responses answer THROTTLED with 503
#      and Retry-After: 1, MISSING_AUTHENTICATION_TOKEN with 404, and leave QUOTA_EXCEEDED at
#      its 429), and the AWS service events (issue 15): with the defaults only the AWS Health
#      rule, on the default bus, invoking the function (its own Lambda permission, by the rule's
#      ARN); with every Forward* "true" the five rules, each with its source's event pattern
#      (GuardDuty severity a JSON number), RetryPolicy 86400 s / 185 and the dead-letter queue as
#      DeadLetterConfig, targeting the buffer queue in buffered mode (no Lambda permission then);
#      the dead-letter queue's and the buffer queue's policies let events.amazonaws.com send from
#      exactly this stack's rules; OrganizationId set: the central bus, its policy (Principal "*"
#      with aws:PrincipalOrgID), the same rules on it, the alarm topic's aws:SourceOrgID
#      statement beside this account's, the CentralEventBusArn output; and in every scenario no
#      Allow for principal "*" without an organisation condition,
#      then the operations dashboard (issue 16) in the transformed template, against the code
#      read statically (each function's add_metric names in the modules its handler can run,
#      under its POWERTOOLS_METRICS_NAMESPACE, with the dimension service = its
#      POWERTOOLS_SERVICE_NAME, with and without input_format, the dimension the code adds):
#      with OperationsDashboard "true" (the defaults; and buffered, other timeouts, a
#      MetricsNamespace with special characters) the dashboard and its DashboardUrl output, none
#      with "false"; the body, rendered, valid dashboard JSON whose custom metrics (metric arrays
#      and SEARCH expressions) are each emitted with that namespace, service and dimension set,
#      whose AWS/SQS, AWS/Lambda and AWS/ApiGateway metrics name this stack's queues, functions
#      and API only, whose alarm widget lists this stack's alarms, each function's Duration
#      annotated with its Timeout x 1000 ms; and bodies mutated in one place (a misspelt metric,
#      another namespace or service, another stack's queue or function, a wrong timeout) refused,
#   1a. templates/member-account.yaml (plain CloudFormation, no transform): sam validate --lint
#      (cfn-lint; it lints a template without the SAM transform too) as is and on an all-options
#      copy (every Forward* "true"), then resolved per parameter combination: its toggles and
#      filters defined as template.yaml's, CentralEventBusArn required and an event bus ARN, one
#      rule per enabled source with template.yaml's very event pattern, targeting the central bus
#      with a role only events.amazonaws.com of the account may assume and that may only
#      events:PutEvents on that bus, RetryPolicy and its own dead-letter queue (SSE, 14 days, a
#      policy for exactly its rules), no Allow for principal "*",
#   1b. checkov (framework cloudformation) on template.yaml, the all-options copy, both
#      transformed templates, templates/member-account.yaml and its all-options copy: zero
#      failed checks. Findings that do not apply are skipped in place, on the resource
#      (Metadata: checkov: skip, each with its reason); the transformed templates inherit the
#      skips of the SAM resource each resource was generated from. --skip-download: no call to
#      Prisma Cloud (no network needed),
#   2. sanity checks of events/*.json (they parse; sns-*.json are Lambda SNS events whose
#      Messages are JSON unless the name says plain-text; sqs-*.json are Lambda SQS events
#      (buffered mode) whose record bodies are SNS notification JSON (Type Notification,
#      Message a string) with a matching md5OfBody; apigateway-*.json are API Gateway
#      proxy events (REST payload 1.0 or HTTP API payload 2.0) whose body, base64-decoded
#      when isBase64Encoded, is JSON; redrive-*.json are RedriveFunction payloads (a JSON
#      object with action "replay"); every other file but env.json is a direct invocation
#      event: a CloudWatch alarm-action payload, or an EventBridge event from aws.cloudwatch or
#      from a source the AWS service event rules forward, with a detail-type its rule matches),
#   3. the layer's lock (layers/itom_forwarder/requirements.txt): exact pins, every one with
#      hashes, the direct pins of requirements.in locked at their versions,
#   4. sam build for arm64 with Python 3.13 (skipped with a clear message when no 3.13 exists;
#      it starts in the background as soon as the SAM CLI is there, and its output is shown
#      here; the layer by layers/itom_forwarder/Makefile), no x86_64 wheel in it; then the
#      built layer against the lock: the arm64 wheels are downloaded again from the lock with
#      pip checking every hash, and the layer must hold exactly the locked distributions, each
#      file identical to the hash-checked wheel's, and nothing else but the itom_forwarder
#      package, its requirements files and bytecode (python3.13, unchecked-hash, beside every
#      module); then prints the unzipped sizes of the built functions and layer.
# The checks written in Python live in scripts/template_checks (typed, linted and
# type-checked with the project) and run with the SAM CLI's Python, which has samtranslator.
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
MEMBER="templates/member-account.yaml"
LAYER_DIR="layers/itom_forwarder"
LOCK="$LAYER_DIR/requirements.txt"

export SAM_CLI_TELEMETRY=0
# sam validate/build need no credentials; dummy values keep any boto3 lookup from failing
# or reaching for a real profile. Existing values are left alone.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-$REGION}"

log() { printf '\n==> %s\n' "$*"; }

# The checks in Python (scripts/template_checks), with the SAM CLI's Python: the transform
# check imports samtranslator, and the lock checks packaging, both installed there.
template_checks() {
    PYTHONPATH="$ROOT/scripts" "$SAM_VENV/bin/python" -m template_checks "$@"
}

# Scratch space (the all-options copy, the transformed templates, the build log, the wheels),
# and the background jobs (the checkov install, sam build), ended if this script stops first.
CHECK_DIR="$(mktemp -d)"
CHECKOV_PID=""
BUILD_PID=""
cleanup() {
    for pid in "$CHECKOV_PID" "$BUILD_PID"; do
        if [ -n "$pid" ]; then
            pkill -P "$pid" 2>/dev/null || true  # the job's pip or sam
            kill "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$CHECK_DIR"
}
trap cleanup EXIT

# --- 0. SAM CLI and checkov, each in its own venv (SAM pins its own boto3, so not in the
# project venv; checkov's dependencies conflict with SAM's) ---------------------------------
PY="${SAM_PYTHON:-python3}"
python_ok() {
    "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null
}

sam_ok() {
    [ -x "$SAM" ] && "$SAM" --version 2>/dev/null | grep -qx "SAM CLI, version ${SAM_VERSION}"
}

checkov_ok() {
    [ -x "$CHECKOV" ] && [ "$("$CHECKOV" --version 2>/dev/null)" = "$CHECKOV_VERSION" ]
}

# install_tool VENV PACKAGE==VERSION: a fresh venv holding the package.
install_tool() {
    "$PY" -m venv --clear "$1"
    "$1/bin/python" -m pip install --quiet --disable-pip-version-check "$2"
}

if ! { sam_ok && checkov_ok; } && ! python_ok; then
    echo "error: ${PY} (>= 3.10) is needed to install aws-sam-cli ${SAM_VERSION} and checkov ${CHECKOV_VERSION}; set SAM_PYTHON" >&2
    exit 1
fi
mkdir -p "$ROOT/.tools"

# checkov installs in the background while the SAM CLI does (each takes about a minute, mostly
# downloading and unpacking); its output is shown once it is done.
if checkov_ok; then
    log "checkov ${CHECKOV_VERSION} already in .tools/checkov"
else
    log "Installing checkov==${CHECKOV_VERSION} into .tools/checkov (with $("$PY" --version 2>&1)), in the background"
    install_tool "$CHECKOV_VENV" "checkov==${CHECKOV_VERSION}" >"$CHECK_DIR/checkov-install.log" 2>&1 &
    CHECKOV_PID=$!
fi

if sam_ok; then
    log "SAM CLI ${SAM_VERSION} already in .tools/sam"
else
    log "Installing aws-sam-cli==${SAM_VERSION} into .tools/sam (with $("$PY" --version 2>&1))"
    install_tool "$SAM_VENV" "aws-sam-cli==${SAM_VERSION}"
    if ! sam_ok; then
        echo "error: SAM CLI ${SAM_VERSION} not usable after install" >&2
        "$SAM" --version >&2 || true
        exit 1
    fi
fi
"$SAM" --version

# --- 4, started now. sam build needs only the SAM CLI: it runs in the background while the
# checkov install finishes and steps 1-3 run (it mostly downloads and unpacks), and so does the
# download of the hash-checked arm64 wheels the built layer is checked against; their output
# is shown at step 4. -----------------------------------------------------------------------
PY313=""
if command -v pyenv >/dev/null 2>&1; then
    PY313="$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$' | sort -V | tail -n 1 || true)"
fi
BUILD_WITH=""
if [ -n "$PY313" ]; then
    BUILD_WITH="pyenv"
elif command -v python3.13 >/dev/null 2>&1 && python3.13 -c 'import sys' >/dev/null 2>&1; then
    BUILD_WITH="path"
fi

build_and_download() {
    if [ "$BUILD_WITH" = "pyenv" ]; then
        log "sam build with pyenv Python ${PY313} (arm64)"
        # sam build looks for python3.13 on PATH: make sure pyenv's shims are on it.
        PATH="$(pyenv root)/shims:$PATH" PYENV_VERSION="$PY313" \
            "$SAM" build --template-file template.yaml --build-dir "$BUILD_DIR"
    else
        log "sam build with $(python3.13 --version) from PATH (arm64)"
        "$SAM" build --template-file template.yaml --build-dir "$BUILD_DIR"
    fi
    # SAM's builder checks the lock's hashes only for what it downloads for this machine: the
    # arm64 wheels of the native packages it then fetches one by one, by name and version,
    # unchecked. Download the Lambda platform's wheels again from the lock, pip checking every
    # hash, with the platform tags SAM uses for python3.13 on arm64; the built layer must be
    # exactly those files.
    log "The built layer against the lock (arm64 wheels downloaded again, every hash checked)"
    "$SAM_VENV/bin/python" -m pip download --quiet --disable-pip-version-check --require-hashes \
        --only-binary=:all: --implementation cp --python-version 3.13 --abi cp313 \
        --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 \
        --platform manylinux_2_28_aarch64 --platform manylinux_2_34_aarch64 \
        --dest "$CHECK_DIR/wheels" -r "$LOCK"
}

if [ -n "$BUILD_WITH" ]; then
    build_and_download >"$CHECK_DIR/build.log" 2>&1 &
    BUILD_PID=$!
fi

if [ -n "$CHECKOV_PID" ]; then
    checkov_status=0
    wait "$CHECKOV_PID" || checkov_status=$?
    CHECKOV_PID=""
    log "checkov install (ran in the background): exit ${checkov_status}"
    cat "$CHECK_DIR/checkov-install.log"
    if [ "$checkov_status" -ne 0 ] || ! checkov_ok; then
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
mkdir -p "$CHECK_DIR/options-on"
OPTIONS_ON="$CHECK_DIR/options-on/template.yaml"
template_checks options-on template.yaml "$OPTIONS_ON"
"$SAM" validate --lint --region "$REGION" --template-file "$OPTIONS_ON"

log "References and API keys in the transformed templates (SAM-generated logical IDs)"
template_checks transformed template.yaml "$CHECK_DIR/transformed.json" "$OPTIONS_ON" "$CHECK_DIR/options-on/transformed.json"

log "Parameter combinations in the transformed template: ordering guard, redrive schedule, dead-letter age alarm, ingest secret, webhook routes, AWS service event rules, the organisation's central bus"
template_checks scenarios "$CHECK_DIR/transformed.json"

log "The operations dashboard: only metrics the code emits (namespace, service, dimensions), this stack's queues, functions, API and alarms, the timeout annotations"
template_checks dashboard template.yaml "$CHECK_DIR/transformed.json"

# --- 1a. the member accounts' template (plain CloudFormation: no transform; sam validate --lint
# runs cfn-lint on it all the same) ------------------------------------------------------------
log "sam validate --lint --region ${REGION}: ${MEMBER}"
"$SAM" validate --lint --region "$REGION" --template-file "$MEMBER"

log "sam validate --lint --region ${REGION}: ${MEMBER} with every Forward* on by default (temporary copy)"
MEMBER_OPTIONS_ON="$CHECK_DIR/options-on/member-account.yaml"
template_checks options-on --member "$MEMBER" "$MEMBER_OPTIONS_ON"
"$SAM" validate --lint --region "$REGION" --template-file "$MEMBER_OPTIONS_ON"

log "Parameter combinations of ${MEMBER}, against template.yaml"
template_checks member "$MEMBER" "$CHECK_DIR/transformed.json"

log "checkov ${CHECKOV_VERSION} (cloudformation): template.yaml, the all-options copy, both transformed, ${MEMBER} and its all-options copy"
"$CHECKOV" --framework cloudformation --quiet --compact --skip-download \
    -f template.yaml "$OPTIONS_ON" "$CHECK_DIR/transformed.json" "$CHECK_DIR/options-on/transformed.json" \
    "$MEMBER" "$MEMBER_OPTIONS_ON"

# --- 2. sample events --------------------------------------------------------------------
log "Checking events/*.json"
template_checks events events

# --- 3. the layer's lock ---------------------------------------------------------------
log "The layer's lock: ${LOCK}"
template_checks lock "$LAYER_DIR/requirements.in" "$LOCK"

# --- 4. build (arm64, python3.13), running since step 0 --------------------------------------
if [ -z "$BUILD_WITH" ]; then
    log "python3.13 not found: skipping sam build"
    exit 0
fi
build_status=0
wait "$BUILD_PID" || build_status=$?
BUILD_PID=""
cat "$CHECK_DIR/build.log"
if [ "$build_status" -ne 0 ]; then
    echo "error: sam build, or the download of the hash-checked arm64 wheels, failed (exit ${build_status})" >&2
    exit 1
fi

# Native wheels must be aarch64: fail if any x86_64 wheel slipped into the artefacts.
if grep -rlE '^Tag: .*x86_64' --include=WHEEL "$BUILD_DIR" >/dev/null 2>&1; then
    echo "error: x86_64 wheels found in the arm64 build:" >&2
    grep -rlE '^Tag: .*x86_64' --include=WHEEL "$BUILD_DIR" >&2
    exit 1
fi

template_checks layer "$LOCK" "$BUILD_DIR/ForwarderLayer/python" "$CHECK_DIR/wheels" \
    --own itom_forwarder requirements.txt requirements.in __pycache__

log "Unzipped size of the build artefacts (Lambda limit: 250 MB function + layers)"
du -sh "$BUILD_DIR/ForwarderFunction" "$BUILD_DIR/RedriveFunction" "$BUILD_DIR"/ForwarderLayer*
