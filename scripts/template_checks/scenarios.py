"""What parameter combinations make of the transformed template (issue 13's options).

The transformed template.yaml (transformed.py's output) is resolved for each scenario
(resolve.py: the conditions evaluated, the branches taken) and checked:
  - OrderingGuard on: AlertStateTable exists (key message_key, a string; TTL on expires_at;
    on demand; encrypted), both functions' ALERT_STATE_TABLE refers to it, and the only
    DynamoDB statements are one per function role allowing dynamodb:UpdateItem on exactly
    that table; off: no table, ALERT_STATE_TABLE "", no DynamoDB statement anywhere;
  - RedriveScheduleMinutes 0: no schedule and no scheduler role; 1, 5 and 1440: the schedule
    runs at rate(1 minute) / rate(N minutes), on time, without retries, with the run request
    {"action": "redrive", "max_messages": 500}, through a role that only scheduler.amazonaws.com
    of this account may assume and that may only invoke the redrive function; the redrive
    function is not retried by Lambda either;
  - DeadLetterQueueAgeAlarm watches the dead-letter queue's ApproximateAgeOfOldestMessage
    (Maximum over 5 minutes, in minutes: m1 / 60) against DeadLetterAgeAlarmMinutes, with the
    actions of DeadLetterQueueDepthAlarm (with and without an OperationsTopicArn, and with the
    alarm topic's own ARN, which both ignore);
  - IngestSecretArn set: the forwarder's INGEST_SECRET_ID is its ARN and its role may
    secretsmanager:GetSecretValue on it (statement ReadIngestSecret, nothing else), with
    SecretKmsKeyArn its kms:Decrypt is allowed for that secret's encryption context too; unset:
    INGEST_SECRET_ID "", no such statement, the decryption for the ServiceNow secret only.
    Either way the redrive function has no INGEST_SECRET_ID and reads the ServiceNow secret
    only, and no other role reads a secret;
  - the webhook routes (POST /alertmanager, POST /grafana; which routes require the API key is
    transformed.py's check): the API's stage throttles each with WebhookBurstLimit and
    WebhookRateLimit (MethodSettings), nothing else, its tracing still follows EnableTracing,
    and the usage plan of the API key stays; the API's gateway responses answer THROTTLED with
    503 and Retry-After: 1, MISSING_AUTHENTICATION_TOKEN (no such route) with 404 and a JSON
    body naming the routes, and leave QUOTA_EXCEEDED at its 429.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from template_checks.resolve import PSEUDO_PARAMETERS, JsonObject, Resolved, ResolveError

FUNCTIONS = ("ForwarderFunction", "RedriveFunction")
FUNCTION_ROLES = ("ForwarderFunctionRole", "RedriveFunctionRole")
TABLE = "AlertStateTable"
SCHEDULE = "RedriveSchedule"
SCHEDULER_ROLE = "RedriveSchedulerRole"
RUN_REQUEST = {"action": "redrive", "max_messages": 500}
OPERATIONS_TOPIC = "arn:aws:sns:eu-west-1:123456789012:operations"
OWN_ALARM_TOPIC = "arn:aws:sns:eu-west-1:123456789012:itom-forwarder-alarms"
SERVICENOW_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:itom-forwarder/sn-AbCdEf"
INGEST_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:itom-forwarder/webhooks-AbCdEf"
KMS_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
# ServiceNowSecretArn has no default.
BASE = {"ServiceNowSecretArn": SERVICENOW_ARN}
API = "ForwarderApi"
USAGE_PLAN = "ForwarderApiUsagePlan"
# The stage's method settings of the webhook routes: (ResourcePath, HttpMethod); "/" is "~1".
WEBHOOK_METHODS = (("/~1alertmanager", "POST"), ("/~1grafana", "POST"))
NO_SUCH_ROUTE = {"error": "no such route: POST /events, /alertmanager or /grafana"}

# A check returns what is wrong (empty: nothing).
Check = Callable[[Resolved], list[str]]


class ScenarioCheckError(Exception):
    """A scenario's checks failed (the message lists every finding)."""


def _object(value: object) -> JsonObject:
    return value if isinstance(value, dict) else {}


def _get_att(resource: str, attribute: str) -> JsonObject:
    return {"Fn::GetAtt": [resource, attribute]}


def _normal(node: object) -> object:
    """GetAtt in one form ("A.B" is ["A", "B"]), so values compare."""
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"} and isinstance(node["Fn::GetAtt"], str):
            return {"Fn::GetAtt": node["Fn::GetAtt"].split(".", 1)}
        return {key: _normal(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_normal(value) for value in node]
    return node


def _listed(value: object) -> list[Any]:
    """An IAM Action/Resource/Principal value as a list (a string is a list of one)."""
    if value is None:
        return []
    return [_normal(item) for item in value] if isinstance(value, list) else [_normal(value)]


def _statements(document: object) -> list[JsonObject]:
    statements = document.get("Statement") if isinstance(document, dict) else None
    listed = statements if isinstance(statements, list) else [statements]
    return [statement for statement in listed if isinstance(statement, dict)]


def role_statements(resolved: Resolved, role: str) -> list[JsonObject]:
    """Every statement of the role's inline policies."""
    policies = resolved.properties(role).get("Policies") or []
    return [statement for policy in policies for statement in _statements(_object(policy).get("PolicyDocument"))]


def iam_statements(resolved: Resolved) -> Iterator[tuple[str, JsonObject]]:
    """(resource, statement) for every permission statement of the template: roles' inline
    policies and any IAM policy resource."""
    for name in resolved.of_type("AWS::IAM::Role"):
        for statement in role_statements(resolved, name):
            yield name, statement
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for name in resolved.of_type(kind):
            for statement in _statements(resolved.properties(name).get("PolicyDocument")):
                yield name, statement


def _touches_dynamodb(statement: JsonObject) -> bool:
    actions = [str(action).lower() for action in _listed(statement.get("Action") or statement.get("NotAction"))]
    return "NotAction" in statement or any(action == "*" or action.startswith("dynamodb:") for action in actions)


def _only(statement: JsonObject, action: str, resource: object) -> str | None:
    """What is wrong with a statement that must allow exactly `action` on exactly `resource`."""
    if set(statement) - {"Sid", "Effect", "Action", "Resource"}:
        return "has " + ", ".join(sorted(set(statement) - {"Sid", "Effect", "Action", "Resource"}))
    if statement.get("Effect") != "Allow":
        return "is not an Allow"
    if _listed(statement.get("Action")) != [action]:
        return f"allows {_listed(statement.get('Action'))}, not only {action}"
    if _listed(statement.get("Resource")) != [resource]:
        return f"is on {_listed(statement.get('Resource'))}, not only {resource}"
    return None


def _managed_policies(resolved: Resolved, roles: tuple[str, ...]) -> list[str]:
    return [f"{role} has managed policies" for role in roles if resolved.properties(role).get("ManagedPolicyArns")]


# --- the ordering guard ------------------------------------------------------------------


def _table_shape(table: JsonObject) -> list[str]:
    expected: dict[str, object] = {
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "message_key", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "message_key", "AttributeType": "S"}],
        "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
    }
    failures = [
        f"{TABLE} {key} is {table.get(key)!r}, not {value!r}"
        for key, value in expected.items()
        if table.get(key) != value
    ]
    if _object(table.get("SSESpecification")).get("SSEEnabled") is not True:
        failures.append(f"{TABLE} SSESpecification.SSEEnabled is not true")
    return failures


def _environment(resolved: Resolved, function: str) -> JsonObject:
    return _object(_object(resolved.properties(function).get("Environment")).get("Variables"))


def check_guard_on(resolved: Resolved) -> list[str]:
    if TABLE not in resolved.of_type("AWS::DynamoDB::Table"):
        return [f"no {TABLE} (AWS::DynamoDB::Table)"]
    failures = _table_shape(resolved.properties(TABLE))
    for function in FUNCTIONS:
        value = _environment(resolved, function).get("ALERT_STATE_TABLE")
        if value != {"Ref": TABLE}:
            failures.append(f"{function} ALERT_STATE_TABLE is {value!r}, not a Ref to {TABLE}")
    table_arn = _get_att(TABLE, "Arn")
    dynamodb = [(name, statement) for name, statement in iam_statements(resolved) if _touches_dynamodb(statement)]
    for role in FUNCTION_ROLES:
        own = [statement for name, statement in dynamodb if name == role]
        if len(own) != 1:
            failures.append(f"{role} has {len(own)} DynamoDB statements, not 1")
        failures += [
            f"{role} DynamoDB statement {problem}"
            for s in own
            if (problem := _only(s, "dynamodb:UpdateItem", table_arn))
        ]
    failures += [f"{name} has a DynamoDB statement" for name, _ in dynamodb if name not in FUNCTION_ROLES]
    failures += _managed_policies(resolved, FUNCTION_ROLES)
    if "AlertStateTableName" not in resolved.outputs:
        failures.append("no AlertStateTableName output")
    return failures


def check_guard_off(resolved: Resolved) -> list[str]:
    failures = [f"{name} (AWS::DynamoDB::Table) exists" for name in resolved.of_type("AWS::DynamoDB::Table")]
    for function in FUNCTIONS:
        value = _environment(resolved, function).get("ALERT_STATE_TABLE")
        if value != "":
            failures.append(f'{function} ALERT_STATE_TABLE is {value!r}, not ""')
    failures += [f"{name} has a DynamoDB statement" for name, s in iam_statements(resolved) if _touches_dynamodb(s)]
    failures += [f"output {name} exists" for name in resolved.outputs if name == "AlertStateTableName"]
    return failures


# --- the redrive schedule ----------------------------------------------------------------


def check_no_schedule(resolved: Resolved) -> list[str]:
    failures = [f"{name} (AWS::Scheduler::Schedule) exists" for name in resolved.of_type("AWS::Scheduler::Schedule")]
    if SCHEDULER_ROLE in resolved.resources:
        failures.append(f"{SCHEDULER_ROLE} exists")
    return failures


def _run_request(text: object) -> str | None:
    """What is wrong with the schedule's Input, if anything."""
    try:
        request = json.loads(text) if isinstance(text, str) else None
    except ValueError as exc:
        return f"{SCHEDULE} Input is not JSON: {exc}"
    if request != RUN_REQUEST or isinstance(_object(request).get("max_messages"), bool):
        return f"{SCHEDULE} Input is {text!r}, not {json.dumps(RUN_REQUEST)}"
    return None


def _scheduler_trust(resolved: Resolved) -> list[str]:
    statements = _statements(resolved.properties(SCHEDULER_ROLE).get("AssumeRolePolicyDocument"))
    if len(statements) != 1:
        return [f"{SCHEDULER_ROLE} trust policy has {len(statements)} statements, not 1"]
    (trust,) = statements
    failures = []
    if trust.get("Effect") != "Allow" or _listed(trust.get("Action")) != ["sts:AssumeRole"]:
        failures.append(f"{SCHEDULER_ROLE} trust statement is not Allow sts:AssumeRole")
    if _object(trust.get("Principal")) != {"Service": "scheduler.amazonaws.com"} and _listed(
        _object(trust.get("Principal")).get("Service")
    ) != ["scheduler.amazonaws.com"]:
        failures.append(
            f"{SCHEDULER_ROLE} may be assumed by {trust.get('Principal')!r}, not only scheduler.amazonaws.com"
        )
    source_account = _object(_object(trust.get("Condition")).get("StringEquals")).get("aws:SourceAccount")
    if source_account != PSEUDO_PARAMETERS["AWS::AccountId"]:
        failures.append(f"{SCHEDULER_ROLE} trust has no aws:SourceAccount condition on this account")
    return failures


def _scheduler_permissions(resolved: Resolved) -> list[str]:
    statements = role_statements(resolved, SCHEDULER_ROLE)
    if len(statements) != 1:
        return [f"{SCHEDULER_ROLE} has {len(statements)} permission statements, not 1"]
    problem = _only(statements[0], "lambda:InvokeFunction", _get_att("RedriveFunction", "Arn"))
    return [f"{SCHEDULER_ROLE} statement {problem}"] if problem else []


def _redrive_not_retried(resolved: Resolved) -> list[str]:
    configs = [
        props
        for name in resolved.of_type("AWS::Lambda::EventInvokeConfig")
        if (props := resolved.properties(name)).get("FunctionName") == {"Ref": "RedriveFunction"}
    ]
    if [str(props.get("MaximumRetryAttempts")) for props in configs] != ["0"]:
        return ["RedriveFunction has no EventInvokeConfig with MaximumRetryAttempts 0"]
    return []


def schedule_check(minutes: int) -> Check:
    expression = "rate(1 minute)" if minutes == 1 else f"rate({minutes} minutes)"

    def check(resolved: Resolved) -> list[str]:
        if SCHEDULE not in resolved.of_type("AWS::Scheduler::Schedule"):
            return [f"no {SCHEDULE} (AWS::Scheduler::Schedule)"]
        props = resolved.properties(SCHEDULE)
        target = _object(props.get("Target"))
        failures = []
        if props.get("ScheduleExpression") != expression:
            failures.append(f"{SCHEDULE} ScheduleExpression is {props.get('ScheduleExpression')!r}, not {expression!r}")
        if props.get("FlexibleTimeWindow") != {"Mode": "OFF"} or props.get("State", "ENABLED") != "ENABLED":
            failures.append(f"{SCHEDULE} is not enabled with FlexibleTimeWindow Mode OFF")
        if _normal(target.get("Arn")) != _get_att("RedriveFunction", "Arn"):
            failures.append(f"{SCHEDULE} target is {target.get('Arn')!r}, not RedriveFunction")
        if _normal(target.get("RoleArn")) != _get_att(SCHEDULER_ROLE, "Arn"):
            failures.append(f"{SCHEDULE} role is {target.get('RoleArn')!r}, not {SCHEDULER_ROLE}")
        if str(_object(target.get("RetryPolicy")).get("MaximumRetryAttempts")) != "0":
            failures.append(f"{SCHEDULE} RetryPolicy MaximumRetryAttempts is not 0")
        problem = _run_request(target.get("Input"))
        failures += [problem] if problem else []
        failures += _scheduler_trust(resolved) + _scheduler_permissions(resolved) + _redrive_not_retried(resolved)
        return failures + _managed_policies(resolved, (SCHEDULER_ROLE,))

    return check


# --- the dead-letter age alarm -------------------------------------------------------------


def _age_metrics(metrics: object) -> list[str]:
    """What is wrong with the alarm's Metrics: one MetricStat of the queue's age (Maximum, 300 s,
    not returned) and one returned expression `<its id> / 60`."""
    listed = [_object(metric) for metric in metrics] if isinstance(metrics, list) else []
    stats = [metric for metric in listed if "MetricStat" in metric]
    returned = [metric for metric in listed if metric.get("ReturnData", True) is not False]
    if len(stats) != 1 or len(returned) != 1:
        return ["DeadLetterQueueAgeAlarm needs one MetricStat and one returned expression"]
    stat = _object(stats[0].get("MetricStat"))
    expected = {
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateAgeOfOldestMessage",
        "Dimensions": [{"Name": "QueueName", "Value": _get_att("DeadLetterQueue", "QueueName")}],
    }
    failures = []
    if _normal(stat.get("Metric")) != expected:
        failures.append(f"DeadLetterQueueAgeAlarm watches {stat.get('Metric')!r}, not the DLQ's age")
    if stat.get("Stat") != "Maximum" or str(stat.get("Period")) != "300":
        failures.append("DeadLetterQueueAgeAlarm statistic is not Maximum over 300 s")
    if " ".join(str(returned[0].get("Expression")).split()) != f"{stats[0].get('Id')} / 60":
        failures.append(f"DeadLetterQueueAgeAlarm expression is {returned[0].get('Expression')!r}, not m1 / 60")
    return failures


def age_alarm_check(minutes: int, actions: list[str]) -> Check:
    def check(resolved: Resolved) -> list[str]:
        alarm = resolved.properties("DeadLetterQueueAgeAlarm")
        if not alarm:
            return ["no DeadLetterQueueAgeAlarm"]
        depth = resolved.properties("DeadLetterQueueDepthAlarm")
        failures = _age_metrics(alarm.get("Metrics"))
        if str(alarm.get("Threshold")) != str(minutes) or alarm.get("ComparisonOperator") != "GreaterThanThreshold":
            failures.append(f"DeadLetterQueueAgeAlarm is not 'greater than {minutes}'")
        if alarm.get("TreatMissingData") != "notBreaching":
            failures.append("DeadLetterQueueAgeAlarm TreatMissingData is not notBreaching")
        for key in ("AlarmActions", "OKActions"):
            if alarm.get(key, []) != depth.get(key, []) or alarm.get(key, []) != actions:
                failures.append(f"DeadLetterQueueAgeAlarm {key} {alarm.get(key)!r}: not {actions} as the depth alarm")
        return failures

    return check


# --- the ingest secret (the webhook credentials) ----------------------------------------------


def _touches_secrets(statement: JsonObject) -> bool:
    actions = [str(action).lower() for action in _listed(statement.get("Action") or statement.get("NotAction"))]
    return "NotAction" in statement or any(action == "*" or action.startswith("secretsmanager:") for action in actions)


def _secret_reads(resolved: Resolved, ingest: str | None) -> list[str]:
    """Each function role reads exactly its secrets, each with a statement of its own allowing
    only secretsmanager:GetSecretValue on it; no other role touches Secrets Manager."""
    expected = {
        "ForwarderFunctionRole": {"ReadServiceNowSecret": SERVICENOW_ARN}
        | ({"ReadIngestSecret": ingest} if ingest else {}),
        "RedriveFunctionRole": {"ReadServiceNowSecret": SERVICENOW_ARN},
    }
    reads = [(name, statement) for name, statement in iam_statements(resolved) if _touches_secrets(statement)]
    failures = [f"{name} has a Secrets Manager statement" for name, _ in reads if name not in expected]
    for role, wanted in expected.items():
        own = {str(statement.get("Sid")): statement for name, statement in reads if name == role}
        if len(own) != len([name for name, _ in reads if name == role]) or set(own) != set(wanted):
            failures.append(f"{role} Secrets Manager statements are {sorted(own)}, not {sorted(wanted)}")
            continue
        failures += [
            f"{role} {sid} {problem}"
            for sid, secret in wanted.items()
            if (problem := _only(own[sid], "secretsmanager:GetSecretValue", secret))
        ]
    return failures


def _decrypt_contexts(resolved: Resolved, role: str) -> list[list[Any]]:
    """The kms:EncryptionContext:SecretARN values of the role's kms:Decrypt statements through
    Secrets Manager (one list per statement)."""
    contexts = []
    for statement in role_statements(resolved, role):
        if _listed(statement.get("Action")) != ["kms:Decrypt"]:
            continue
        equals = _object(_object(statement.get("Condition")).get("StringEquals"))
        if str(equals.get("kms:ViaService", "")).startswith("secretsmanager."):
            contexts.append(_listed(equals.get("kms:EncryptionContext:SecretARN")))
    return contexts


def ingest_secret_check(ingest: str | None, kms: bool) -> Check:
    """IngestSecretArn `ingest` (None: unset), SecretKmsKeyArn set or not (`kms`)."""

    def check(resolved: Resolved) -> list[str]:
        failures = []
        value = _environment(resolved, "ForwarderFunction").get("INGEST_SECRET_ID")
        if value != (ingest or ""):
            failures.append(f"ForwarderFunction INGEST_SECRET_ID is {value!r}, not {ingest or ''!r}")
        if "INGEST_SECRET_ID" in _environment(resolved, "RedriveFunction"):
            failures.append("RedriveFunction has INGEST_SECRET_ID (it never reads the ingest secret)")
        failures += _secret_reads(resolved, ingest)
        forwarder_secrets = [SERVICENOW_ARN, ingest] if ingest else [SERVICENOW_ARN]
        for role, secrets in (
            ("ForwarderFunctionRole", forwarder_secrets),
            ("RedriveFunctionRole", [SERVICENOW_ARN]),
        ):
            contexts = _decrypt_contexts(resolved, role)
            wanted = [secrets] if kms else []
            if contexts != wanted:
                failures.append(f"{role} decrypts through Secrets Manager for {contexts}, not {wanted}")
        return failures

    return check


# --- the webhook routes: stage throttling, gateway responses ----------------------------------


def _api_stage(resolved: Resolved) -> JsonObject:
    """The Properties of the API's stage ({} when there is none, or more than one)."""
    stages = [
        resolved.properties(name)
        for name in resolved.of_type("AWS::ApiGateway::Stage")
        if resolved.properties(name).get("RestApiId") == {"Ref": API}
    ]
    return stages[0] if len(stages) == 1 else {}


def _method_settings(stage: JsonObject, burst: int, rate: int) -> list[str]:
    """Exactly one MethodSettings entry per webhook method, throttled at burst/rate, and none
    for any other method (POST /events has its usage plan)."""
    settings = [_object(entry) for entry in stage.get("MethodSettings") or []]
    failures = []
    for path, method in WEBHOOK_METHODS:
        entries = [
            entry for entry in settings if (entry.get("ResourcePath"), entry.get("HttpMethod")) == (path, method)
        ]
        if len(entries) != 1:
            failures.append(f"the stage has {len(entries)} MethodSettings for {method} {path}, not 1")
            continue
        limits = (str(entries[0].get("ThrottlingBurstLimit")), str(entries[0].get("ThrottlingRateLimit")))
        if limits != (str(burst), str(rate)):
            failures.append(f"{method} {path} is throttled at burst/rate {'/'.join(limits)}, not {burst}/{rate}")
    failures += [
        f"the stage has MethodSettings for {entry.get('HttpMethod')} {entry.get('ResourcePath')}"
        for entry in settings
        if (entry.get("ResourcePath"), entry.get("HttpMethod")) not in WEBHOOK_METHODS
    ]
    return failures


def _json_body(templates: object) -> object:
    try:
        return json.loads(str(_object(templates).get("application/json")))
    except ValueError:
        return None


def _gateway_responses(resolved: Resolved) -> list[str]:
    body = _object(resolved.properties(API).get("Body"))
    responses = _object(body.get("x-amazon-apigateway-gateway-responses"))
    throttled = _object(responses.get("THROTTLED"))
    missing = _object(responses.get("MISSING_AUTHENTICATION_TOKEN"))
    failures = []
    if str(throttled.get("statusCode")) != "503":
        failures.append(f"THROTTLED answers {throttled.get('statusCode')!r}, not 503")
    retry_after = _object(throttled.get("responseParameters")).get("gatewayresponse.header.Retry-After")
    if retry_after != "'1'":
        failures.append(f"""THROTTLED Retry-After is {retry_after!r}, not "'1'" (the static value 1)""")
    if str(missing.get("statusCode")) != "404" or _json_body(missing.get("responseTemplates")) != NO_SUCH_ROUTE:
        failures.append(f"MISSING_AUTHENTICATION_TOKEN is not 404 {json.dumps(NO_SUCH_ROUTE)}: {missing!r}")
    quota = _object(responses.get("QUOTA_EXCEEDED"))
    if quota and str(quota.get("statusCode", "429")) != "429":
        failures.append(f"QUOTA_EXCEEDED answers {quota.get('statusCode')!r}, not its 429")
    return failures


def webhook_routes_check(burst: int, rate: int, tracing: bool) -> Check:
    def check(resolved: Resolved) -> list[str]:
        stage = _api_stage(resolved)
        if not stage:
            return [f"no single AWS::ApiGateway::Stage of {API}"]
        failures = _method_settings(stage, burst, rate)
        if stage.get("TracingEnabled") is not tracing:
            failures.append(f"the stage TracingEnabled is {stage.get('TracingEnabled')!r}, not {tracing}")
        plan = resolved.properties(USAGE_PLAN)
        throttle = _object(plan.get("Throttle"))
        wanted = (resolved.values["ApiBurstLimit"], resolved.values["ApiRateLimit"])
        if (str(throttle.get("BurstLimit")), str(throttle.get("RateLimit"))) != wanted:
            failures.append(f"{USAGE_PLAN} does not throttle the API key at ApiBurstLimit/ApiRateLimit: {plan!r}")
        return failures + _gateway_responses(resolved)

    return check


@dataclass(frozen=True)
class Scenario:
    label: str
    parameters: Mapping[str, str]
    checks: tuple[Check, ...]
    checked: str  # what the ok line says was checked


GUARD_ON = (
    f"{TABLE} (message_key S, TTL expires_at, PAY_PER_REQUEST, SSE); both functions' ALERT_STATE_TABLE "
    "refer to it; both roles may dynamodb:UpdateItem on it, nothing else on DynamoDB"
)
GUARD_OFF = 'no table, ALERT_STATE_TABLE "", no DynamoDB statement'
NO_SCHEDULE = f"no {SCHEDULE}, no {SCHEDULER_ROLE}"


def _scheduled(expression: str) -> str:
    return (
        f"{expression}, Input {json.dumps(RUN_REQUEST)}, no retries; {SCHEDULER_ROLE}: "
        "scheduler.amazonaws.com of this account, lambda:InvokeFunction on RedriveFunction only"
    )


def _age(minutes: int, actions: str) -> str:
    return f"DeadLetterQueueAgeAlarm: DLQ ApproximateAgeOfOldestMessage / 60 > {minutes}, actions {actions}"


def _ingest(ingest: bool, kms: bool) -> str:
    if ingest:
        reads = "ForwarderFunction INGEST_SECRET_ID is its ARN, ReadIngestSecret GetSecretValue on it only"
    else:
        reads = 'ForwarderFunction INGEST_SECRET_ID "", no ReadIngestSecret'
    decrypt = ""
    if kms:
        decrypt = "; kms:Decrypt for the ServiceNow secret" + (" and the ingest secret" if ingest else " only")
    return f"{reads}; RedriveFunction: no INGEST_SECRET_ID, the ServiceNow secret only{decrypt}"


def _webhooks(burst: int, rate: int) -> str:
    return (
        f"stage throttles POST /alertmanager and POST /grafana at {burst}/{rate} (burst/rate), nothing else; "
        "the usage plan stays; THROTTLED 503 Retry-After '1', MISSING_AUTHENTICATION_TOKEN 404 naming the routes"
    )


SCENARIOS = (
    Scenario("OrderingGuard on", {"OrderingGuard": "on"}, (check_guard_on,), GUARD_ON),
    Scenario("OrderingGuard off", {"OrderingGuard": "off"}, (check_guard_off,), GUARD_OFF),
    Scenario("RedriveScheduleMinutes 0", {"RedriveScheduleMinutes": "0"}, (check_no_schedule,), NO_SCHEDULE),
    Scenario(
        "RedriveScheduleMinutes 1", {"RedriveScheduleMinutes": "1"}, (schedule_check(1),), _scheduled("rate(1 minute)")
    ),
    Scenario(
        "RedriveScheduleMinutes 5", {"RedriveScheduleMinutes": "5"}, (schedule_check(5),), _scheduled("rate(5 minutes)")
    ),
    Scenario(
        "RedriveScheduleMinutes 1440",
        {"RedriveScheduleMinutes": "1440"},
        (schedule_check(1440),),
        _scheduled("rate(1440 minutes)"),
    ),
    Scenario(
        "OrderingGuard off, RedriveScheduleMinutes 0, DeadLetterAgeAlarmMinutes 90, OperationsTopicArn set",
        {
            "OrderingGuard": "off",
            "RedriveScheduleMinutes": "0",
            "DeadLetterAgeAlarmMinutes": "90",
            "OperationsTopicArn": OPERATIONS_TOPIC,
        },
        (check_guard_off, check_no_schedule, age_alarm_check(90, [OPERATIONS_TOPIC])),
        f"{GUARD_OFF}; {NO_SCHEDULE}; {_age(90, 'the operations topic, as the depth alarm')}",
    ),
    Scenario(
        "defaults",
        {},
        (check_guard_on, schedule_check(5), age_alarm_check(60, [])),
        f"guard on, rate(5 minutes), {_age(60, 'none (no OperationsTopicArn), as the depth alarm')}",
    ),
    Scenario(
        "OperationsTopicArn is the stack's own alarm topic",
        {"OperationsTopicArn": OWN_ALARM_TOPIC},
        (age_alarm_check(60, []),),
        _age(60, "none (ignored), as the depth alarm"),
    ),
    Scenario(
        "IngestSecretArn unset (defaults)",
        {},
        (ingest_secret_check(None, kms=False), webhook_routes_check(20, 10, tracing=False)),
        f"{_ingest(False, kms=False)}; {_webhooks(20, 10)}",
    ),
    Scenario(
        "IngestSecretArn set",
        {"IngestSecretArn": INGEST_ARN},
        (ingest_secret_check(INGEST_ARN, kms=False),),
        _ingest(True, kms=False),
    ),
    Scenario(
        "SecretKmsKeyArn set, IngestSecretArn unset",
        {"SecretKmsKeyArn": KMS_KEY_ARN},
        (ingest_secret_check(None, kms=True),),
        _ingest(False, kms=True),
    ),
    Scenario(
        "IngestSecretArn and SecretKmsKeyArn set, WebhookBurstLimit 50, WebhookRateLimit 25, EnableTracing true",
        {
            "IngestSecretArn": INGEST_ARN,
            "SecretKmsKeyArn": KMS_KEY_ARN,
            "WebhookBurstLimit": "50",
            "WebhookRateLimit": "25",
            "EnableTracing": "true",
        },
        (ingest_secret_check(INGEST_ARN, kms=True), webhook_routes_check(50, 25, tracing=True)),
        f"{_ingest(True, kms=True)}; {_webhooks(50, 25)}, tracing on",
    ),
)


def run(
    transformed: Path, scenarios: Sequence[Scenario] = SCENARIOS, always: Sequence[Check] = (), always_checked: str = ""
) -> None:
    """Resolve the transformed template for each scenario and check it (with its own checks,
    then those of `always`, which the ok lines end with `always_checked`); raises
    ScenarioCheckError listing every failure."""
    template = json.loads(transformed.read_text(encoding="utf-8"))
    failures = []
    for scenario in scenarios:
        try:
            resolved = Resolved(template, {**BASE, **scenario.parameters})
        except ResolveError as error:
            failures.append(f"  FAIL {scenario.label}: {error}")
            continue
        found = [failure for check in (*scenario.checks, *always) for failure in check(resolved)]
        if found:
            failures += [f"  FAIL {scenario.label}: {failure}" for failure in found]
        else:
            print(f"  ok  {scenario.label}: {scenario.checked}{'; ' + always_checked if always_checked else ''}")
    if failures:
        raise ScenarioCheckError("\n".join(failures))
