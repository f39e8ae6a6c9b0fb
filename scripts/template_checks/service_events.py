"""AWS service events (issue 15): the EventBridge rules per source, the organisation's central
event bus, and who may send to the queues, the alarm topic and the bus.

The transformed template.yaml (transformed.py's output) is resolved for each scenario
(resolve.py) and checked:
  - the rules: exactly the expected AWS::Events::Rule resources (one per ForwardXxx "true" on
    the default bus, and the same on the central bus with an OrganizationId), each ENABLED with
    its source's event pattern (GuardDuty: detail.severity numeric >= GuardDutyMinimumSeverity,
    a JSON number; Security Hub: detail.findings.Severity.Label in SecurityHubSeverityLabels, or
    an update that closes the finding whatever its label),
    and one target: the function (direct) or the buffer queue (buffered), without a role or an
    input transformation, RetryPolicy 86400 s / 185 attempts, DeadLetterConfig the stack's
    dead-letter queue;
  - direct: one Lambda permission per rule (events.amazonaws.com, SourceArn that rule, on the
    forwarder function), none in buffered mode;
  - the queue policies: events.amazonaws.com may sqs:SendMessage to the dead-letter queue (and,
    buffered, to the buffer queue) from exactly these rules (aws:SourceArn, by ARN), and nothing
    else may: no other Allow in the dead-letter queue's policy, only the alarm topic's besides in
    the buffer queue's; no rule, no such statement;
  - OrganizationId set: the central bus (STACK-central) and its policy (Principal "*" with
    aws:PrincipalOrgID the organisation, events:PutEvents on that bus only), the output
    CentralEventBusArn; the alarm topic policy keeps the statement of this account's alarms and
    adds cloudwatch.amazonaws.com of the organisation (aws:SourceOrgID), in this region. Unset:
    none of these, and every topic statement is limited to this account (aws:SourceAccount);
  - in every scenario (those of scenarios.py too): no Allow statement of any policy has a "*"
    principal without an organisation condition (StringEquals aws:PrincipalOrgID or
    aws:SourceOrgID, the OrganizationId), and none uses NotPrincipal.
templates/member-account.yaml is checked by member.py, with the same sources and patterns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from template_checks.resolve import PSEUDO_PARAMETERS, JsonObject, Resolved
from template_checks.scenarios import Check, Scenario, _get_att, _listed, _normal, _object, _statements

ACCOUNT = PSEUDO_PARAMETERS["AWS::AccountId"]
REGION = PSEUDO_PARAMETERS["AWS::Region"]
ORGANIZATION_ID = "o-a1b2c3d4e5"
EVENTS = "events.amazonaws.com"
FUNCTION_ARN = _get_att("ForwarderFunction", "Arn")
BUFFER_ARN = _get_att("BufferQueue", "Arn")
DLQ_ARN = _get_att("DeadLetterQueue", "Arn")
BUS = "CentralEventBus"
BUS_NAME = f"{PSEUDO_PARAMETERS['AWS::StackName']}-central"
RETRY_POLICY = {"MaximumEventAgeInSeconds": "86400", "MaximumRetryAttempts": "185"}
DEFAULT_LABELS = ("CRITICAL", "HIGH", "MEDIUM")


@dataclass(frozen=True)
class Source:
    key: str
    toggle: str  # the ForwardXxx parameter
    rule: str  # the rule's logical ID on the default bus ("Central" + it on the central bus)
    source: str
    detail_types: tuple[str, ...]


SOURCES = (
    Source("Health", "ForwardHealthEvents", "HealthEventsRule", "aws.health", ("AWS Health Event",)),
    Source("GuardDuty", "ForwardGuardDutyFindings", "GuardDutyFindingsRule", "aws.guardduty", ("GuardDuty Finding",)),
    Source(
        "SecurityHub",
        "ForwardSecurityHubFindings",
        "SecurityHubFindingsRule",
        "aws.securityhub",
        ("Security Hub Findings - Imported",),
    ),
    Source(
        "Config",
        "ForwardConfigComplianceChanges",
        "ConfigComplianceRule",
        "aws.config",
        ("Config Rules Compliance Change",),
    ),
    Source(
        "DevOpsGuru",
        "ForwardDevOpsGuruInsights",
        "DevOpsGuruInsightsRule",
        "aws.devops-guru",
        (
            "DevOps Guru New Insight Open",
            "DevOps Guru Insight Severity Upgraded",
            "DevOps Guru New Anomaly Association",
            "DevOps Guru New Recommendation Created",
            "DevOps Guru Insight Closed",
        ),
    ),
)
SOURCE_KEYS = tuple(source.key for source in SOURCES)
# The filters and toggles: the same parameters, with the same definitions, in both templates.
SHARED_PARAMETERS = (*(source.toggle for source in SOURCES), "GuardDutyMinimumSeverity", "SecurityHubSeverityLabels")


@dataclass(frozen=True)
class Filters:
    """GuardDutyMinimumSeverity (as written: a JSON number) and SecurityHubSeverityLabels."""

    minimum: str = "4"
    labels: tuple[str, ...] = DEFAULT_LABELS

    def parameters(self) -> dict[str, str]:
        return {"GuardDutyMinimumSeverity": self.minimum, "SecurityHubSeverityLabels": ",".join(self.labels)}


DEFAULT_FILTERS = Filters()


def expected_pattern(source: Source, filters: Filters) -> JsonObject:
    pattern: JsonObject = {"source": [source.source], "detail-type": list(source.detail_types)}
    if source.key == "GuardDuty":
        pattern["detail"] = {"severity": [{"numeric": [">=", json.loads(filters.minimum)]}]}
    if source.key == "SecurityHub":
        closing = [{"Compliance": {"Status": ["PASSED"]}}, {"Workflow": {"Status": ["RESOLVED", "SUPPRESSED"]}}]
        either = [{"Severity": {"Label": list(filters.labels)}}, *closing, {"RecordState": ["ARCHIVED"]}]
        pattern["detail"] = {"findings": {"$or": either}}
    return pattern


def _numbers_typed(node: object) -> object:
    """The pattern with every number marked by its type, so that 4 and "4" differ (they do
    for EventBridge) and 4 and 4.0 do not (the same number)."""
    if isinstance(node, dict):
        return {key: _numbers_typed(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_numbers_typed(value) for value in node]
    if isinstance(node, int | float) and not isinstance(node, bool):
        return ("number", float(node))
    return node


def pattern_problem(label: str, props: JsonObject, source: Source, filters: Filters) -> str | None:
    """What is wrong with a rule's EventPattern (an object, or its JSON text)."""
    pattern = props.get("EventPattern")
    if isinstance(pattern, str):
        try:
            pattern = json.loads(pattern)
        except ValueError as error:
            return f"{label} EventPattern is not JSON: {error}"
    wanted = expected_pattern(source, filters)
    if _numbers_typed(pattern) != _numbers_typed(wanted):
        return f"{label} EventPattern is {json.dumps(pattern)}, not {json.dumps(wanted)}"
    return None


def target_problems(label: str, props: JsonObject, arn: object, dlq: object, role: object | None) -> list[str]:
    """A rule's one target: `arn`, with the role `role` (None: no role), RetryPolicy at
    EventBridge's maxima, DeadLetterConfig `dlq`, and nothing that changes the event."""
    targets = [_object(target) for target in props.get("Targets") or []]
    if len(targets) != 1:
        return [f"{label} has {len(targets)} targets, not 1"]
    (target,) = targets
    allowed = {"Id", "Arn", "RetryPolicy", "DeadLetterConfig"} | ({"RoleArn"} if role is not None else set())
    failures = [f"{label} target has {key}" for key in sorted(set(target) - allowed)]
    if _normal(target.get("Arn")) != arn:
        failures.append(f"{label} target is {target.get('Arn')!r}, not {arn!r}")
    if role is not None and _normal(target.get("RoleArn")) != role:
        failures.append(f"{label} target role is {target.get('RoleArn')!r}, not {role!r}")
    retry = {key: str(value) for key, value in _object(target.get("RetryPolicy")).items()}
    if retry != RETRY_POLICY:
        failures.append(f"{label} RetryPolicy is {target.get('RetryPolicy')!r}, not {RETRY_POLICY}")
    if _normal(target.get("DeadLetterConfig")) != {"Arn": dlq}:
        failures.append(f"{label} DeadLetterConfig is {target.get('DeadLetterConfig')!r}, not {{'Arn': {dlq!r}}}")
    return failures


def rule_problems(resolved: Resolved, name: str, source: Source, filters: Filters, bus: object | None) -> list[str]:
    """The rule's own properties: ENABLED, no schedule, on `bus` (None: the default bus), the
    source's pattern."""
    props = resolved.properties(name)
    failures = []
    if props.get("State") != "ENABLED" or "ScheduleExpression" in props:
        failures.append(f"{name} is not an ENABLED event-pattern rule")
    on_bus = _normal(props.get("EventBusName", "default"))
    if bus is None and on_bus != "default":
        failures.append(f"{name} is on {on_bus!r}, not the default bus")
    if bus is not None and on_bus not in (bus, {"Ref": BUS}):
        failures.append(f"{name} is on {on_bus!r}, not {bus!r}")
    problem = pattern_problem(name, props, source, filters)
    return failures + ([problem] if problem else [])


def rule_set_problems(resolved: Resolved, expected: set[str]) -> list[str]:
    rules = set(resolved.of_type("AWS::Events::Rule"))
    failures = [f"unexpected rule {name}" for name in sorted(rules - expected)]
    return failures + [f"no rule {name}" for name in sorted(expected - rules)]


def _principal_services(statement: JsonObject) -> list[Any]:
    return _listed(_object(statement.get("Principal")).get("Service"))


def event_sender_problems(label: str, document: object, queue: object, rules: set[str]) -> list[str]:
    """The queue policy's statement for EventBridge: with rules, exactly one, letting
    events.amazonaws.com sqs:SendMessage to `queue` from exactly those rules; without, none."""
    statements = [s for s in _statements(document) if EVENTS in _principal_services(s)]
    if not rules:
        return [f"{label} lets {EVENTS} send, with no rule to send"] if statements else []
    if len(statements) != 1:
        return [f"{label} has {len(statements)} statements for {EVENTS}, not 1"]
    (statement,) = statements
    failures = []
    if statement.get("Effect") != "Allow" or _principal_services(statement) != [EVENTS]:
        failures.append(f"{label} {EVENTS} statement is not an Allow for that service only")
    if _listed(statement.get("Action")) != ["sqs:SendMessage"] or _listed(statement.get("Resource")) != [queue]:
        failures.append(f"{label} {EVENTS} statement is not sqs:SendMessage on {queue!r} only")
    condition = _object(statement.get("Condition"))
    sources = _listed(_object(condition.get("ArnEquals")).get("aws:SourceArn"))
    wanted = sorted(json.dumps(_get_att(rule, "Arn")) for rule in rules)
    if set(condition) != {"ArnEquals"} or sorted(json.dumps(arn) for arn in sources) != wanted:
        failures.append(f"{label} {EVENTS} condition is {condition!r}, not ArnEquals aws:SourceArn of {sorted(rules)}")
    return failures


def _is_alarm_topic_statement(statement: JsonObject) -> bool:
    return _principal_services(statement) == ["sns.amazonaws.com"] and _object(statement.get("Condition")) == {
        "ArnEquals": {"aws:SourceArn": {"Ref": "AlarmTopic"}}
    }


def queue_policy_problems(resolved: Resolved, rules: set[str], buffered: bool) -> list[str]:
    dlq = _object(resolved.properties("DeadLetterQueuePolicy").get("PolicyDocument"))
    failures = event_sender_problems("DeadLetterQueuePolicy", dlq, DLQ_ARN, rules)
    failures += [
        f"DeadLetterQueuePolicy also allows {statement.get('Principal')!r}"
        for statement in _statements(dlq)
        if statement.get("Effect") == "Allow" and EVENTS not in _principal_services(statement)
    ]
    if not buffered:
        return failures
    buffer = _object(resolved.properties("BufferQueuePolicy").get("PolicyDocument"))
    failures += event_sender_problems("BufferQueuePolicy", buffer, BUFFER_ARN, rules)
    return failures + [
        f"BufferQueuePolicy also allows {statement.get('Principal')!r}"
        for statement in _statements(buffer)
        if statement.get("Effect") == "Allow"
        and EVENTS not in _principal_services(statement)
        and not _is_alarm_topic_statement(statement)
    ]


def permission_problems(resolved: Resolved, rules: set[str], direct: bool) -> list[str]:
    """Direct: one Lambda permission per rule (events.amazonaws.com, SourceArn that rule, on the
    forwarder function); buffered: none for EventBridge."""
    permissions = {
        name: props
        for name in resolved.of_type("AWS::Lambda::Permission")
        if (props := resolved.properties(name)).get("Principal") == EVENTS
    }
    wanted = {json.dumps(_get_att(rule, "Arn")): rule for rule in rules} if direct else {}
    failures = []
    for name, props in permissions.items():
        source = json.dumps(_normal(props.get("SourceArn")))
        rule = wanted.pop(source, None)
        if rule is None:
            failures.append(f"{name} lets {EVENTS} invoke from {props.get('SourceArn')!r}, no rule expected there")
        elif props.get("Action") != "lambda:InvokeFunction" or _normal(props.get("FunctionName")) not in (
            {"Ref": "ForwarderFunction"},
            FUNCTION_ARN,
        ):
            failures.append(f"{name} is not lambda:InvokeFunction on ForwarderFunction")
    return failures + [f"no Lambda permission for {EVENTS} from {rule}" for rule in wanted.values()]


def bus_problems(resolved: Resolved, organization: str | None) -> list[str]:
    buses = set(resolved.of_type("AWS::Events::EventBus"))
    policies = resolved.of_type("AWS::Events::EventBusPolicy")
    output = resolved.outputs.get("CentralEventBusArn")
    if organization is None:
        found = [*sorted(buses), *sorted(policies), *(["output CentralEventBusArn"] if output else [])]
        return [f"{name} exists without an OrganizationId" for name in found]
    failures = [] if buses == {BUS} else [f"event buses {sorted(buses)}, not [{BUS}]"]
    if resolved.properties(BUS).get("Name") != BUS_NAME:
        failures.append(f"{BUS} Name is {resolved.properties(BUS).get('Name')!r}, not {BUS_NAME!r}")
    if len(policies) != 1:
        return [*failures, f"{len(policies)} AWS::Events::EventBusPolicy, not 1"]
    ((name, policy),) = policies.items()
    props = _object(policy.get("Properties"))
    statement = _object(props.get("Statement"))
    if _normal(props.get("EventBusName")) not in (_get_att(BUS, "Name"), {"Ref": BUS}):
        failures.append(f"{name} is on {props.get('EventBusName')!r}, not {BUS}")
    wanted = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "events:PutEvents",
        "Resource": _get_att(BUS, "Arn"),
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization}},
    }
    if {"Principal", "Action", "Condition"} & set(props) or _normal(statement) != wanted:
        failures.append(f"{name} statement is {statement!r}, not {wanted!r}")
    if _normal(_object(output).get("Value")) != _get_att(BUS, "Arn"):
        failures.append("no output CentralEventBusArn of the bus's ARN")
    return failures


def topic_policy_problems(resolved: Resolved, organization: str | None) -> list[str]:
    """The alarm topic: this account's alarms always; the organisation's with an OrganizationId."""
    statements = _statements(_object(resolved.properties("AlarmTopicPolicy").get("PolicyDocument")))
    own = [s for s in statements if s.get("Sid") == "AllowCloudWatchAlarmsOfThisAccount"]
    failures = []
    if (
        len(own) != 1
        or _object(_object(own[0].get("Condition")).get("StringEquals")).get("aws:SourceAccount") != ACCOUNT
    ):
        failures.append("AlarmTopicPolicy lost the statement of this account's alarms (aws:SourceAccount)")
    by_org = [s for s in statements if "aws:SourceOrgID" in _object(_object(s.get("Condition")).get("StringEquals"))]
    if organization is None:
        failures += [f"AlarmTopicPolicy {s.get('Sid')} has aws:SourceOrgID without an OrganizationId" for s in by_org]
        return failures + [
            f"AlarmTopicPolicy {s.get('Sid')} is not limited to this account"
            for s in statements
            if s.get("Effect") == "Allow"
            and _object(_object(s.get("Condition")).get("StringEquals")).get("aws:SourceAccount") != ACCOUNT
        ]
    wanted = {
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": {"Ref": "AlarmTopic"},
        "Condition": {
            "StringEquals": {"aws:SourceOrgID": organization},
            "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:*:alarm:*"},
        },
    }
    if len(by_org) != 1 or {key: value for key, value in by_org[0].items() if key != "Sid"} != wanted:
        failures.append(f"AlarmTopicPolicy statements by organisation are {by_org!r}, not one {wanted!r}")
    return failures


# --- "*" principals, anywhere ---------------------------------------------------------------


def _policy_statements(node: object) -> Iterator[JsonObject]:
    """Every mapping below `node` that is a policy statement (an Effect and a principal)."""
    if isinstance(node, list):
        for value in node:
            yield from _policy_statements(value)
    elif isinstance(node, dict):
        if "Effect" in node and ({"Principal", "NotPrincipal"} & set(node)):
            yield node
        for value in node.values():
            yield from _policy_statements(value)


def _is_everyone(principal: object) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, dict) and "*" in _listed(principal.get("AWS"))


def _organisation_condition(condition: object, organization: str) -> bool:
    """StringEquals aws:PrincipalOrgID or aws:SourceOrgID (keys are case-insensitive) equal to
    the organisation (a non-empty OrganizationId)."""
    equals = _object(_object(condition).get("StringEquals"))
    keys = {"aws:principalorgid", "aws:sourceorgid"}
    return bool(organization) and any(
        key.lower() in keys and _listed(value) == [organization] for key, value in equals.items()
    )


def check_no_open_principal(resolved: Resolved) -> list[str]:
    """No Allow for "*" without an organisation condition, anywhere; no NotPrincipal."""
    organization = resolved.values.get("OrganizationId", "")
    failures = []
    for name, resource in resolved.resources.items():
        props = _object(resource.get("Properties"))
        for statement in _policy_statements(props):
            if statement.get("Effect") != "Allow":
                continue
            if "NotPrincipal" in statement:
                failures.append(f"{name}: an Allow statement with NotPrincipal")
            elif _is_everyone(statement.get("Principal")) and not _organisation_condition(
                statement.get("Condition"), organization
            ):
                failures.append(f"{name}: an Allow statement for principal * without an organisation condition")
        if (
            resource.get("Type") == "AWS::Lambda::Permission"
            and props.get("Principal") == "*"
            and (not organization or props.get("PrincipalOrgID") != organization)
        ):
            failures.append(f"{name}: a Lambda permission for * without PrincipalOrgID")
        if resource.get("Type") == "AWS::Events::EventBusPolicy" and props.get("Principal") == "*":
            failures.append(f"{name}: Principal * as a property (use a Statement with aws:PrincipalOrgID)")
    return failures


# --- the scenarios ----------------------------------------------------------------------------


def service_events_check(
    sources: tuple[str, ...], *, organization: str | None, buffered: bool, filters: Filters
) -> Check:
    """The rules of `sources` (keys of SOURCES) on the default bus, and on the central bus
    with an `organization`; their targets, permissions and queue policies; the bus; the topic."""
    chosen = [source for source in SOURCES if source.key in sources]

    def check(resolved: Resolved) -> list[str]:
        rules: dict[str, tuple[Source, object | None]] = {source.rule: (source, None) for source in chosen}
        if organization is not None:
            rules |= {"Central" + source.rule: (source, _get_att(BUS, "Name")) for source in chosen}
        failures = rule_set_problems(resolved, set(rules))
        target = BUFFER_ARN if buffered else FUNCTION_ARN
        for name, (source, bus) in sorted(rules.items()):
            if name in resolved.resources:
                failures += rule_problems(resolved, name, source, filters, bus)
                failures += target_problems(name, resolved.properties(name), target, DLQ_ARN, None)
        failures += permission_problems(resolved, set(rules), direct=not buffered)
        failures += queue_policy_problems(resolved, set(rules), buffered)
        return failures + bus_problems(resolved, organization) + topic_policy_problems(resolved, organization)

    return check


ALL_ON = {source.toggle: "true" for source in SOURCES}
ALL_OFF = {source.toggle: "false" for source in SOURCES}
ORGANIZATION = {"OrganizationId": ORGANIZATION_ID}


def _checked(sources: tuple[str, ...], organization: bool, buffered: bool, filters: Filters) -> str:
    buses = "the default and the central bus" if organization else "the default bus"
    count = len(sources) * (2 if organization else 1)
    rules = f"{count} rule{'s' if count > 1 else ''} ({', '.join(sources)}) on {buses}" if sources else "no rule"
    target = "the buffer queue" if buffered else "the function (one Lambda permission per rule)"
    policies = "the DLQ's and the buffer queue's policies let" if buffered else "the DLQ's policy lets"
    parts = [rules]
    if sources:
        parts.append(
            f"each source's pattern (GuardDuty severity >= {filters.minimum}, Security Hub labels "
            f"{','.join(filters.labels)}), targeting {target}, RetryPolicy 86400 s/185, the DLQ as DeadLetterConfig; "
            f"{policies} events.amazonaws.com send from exactly these rules"
        )
    else:
        parts.append("no events.amazonaws.com statement, no Lambda permission for it")
    if organization:
        parts.append(
            f"the central bus {BUS_NAME}, its policy Principal * with aws:PrincipalOrgID, output CentralEventBusArn; "
            "the alarm topic: this account's alarms and the organisation's (aws:SourceOrgID)"
        )
    else:
        parts.append("no central bus; the alarm topic for this account's alarms only")
    return "; ".join(parts)


def _scenario(
    label: str,
    parameters: Mapping[str, str],
    sources: tuple[str, ...],
    *,
    organization: bool = False,
    buffered: bool = False,
    filters: Filters = DEFAULT_FILTERS,
) -> Scenario:
    check = service_events_check(
        sources, organization=ORGANIZATION_ID if organization else None, buffered=buffered, filters=filters
    )
    return Scenario(label, parameters, (check,), _checked(sources, organization, buffered, filters))


SCENARIOS = (
    _scenario("AWS service events, defaults", {}, ("Health",)),
    _scenario("ForwardHealthEvents false", {"ForwardHealthEvents": "false"}, ()),
    _scenario("every Forward* true (direct)", ALL_ON, SOURCE_KEYS),
    _scenario(
        "every Forward* true, DeliveryMode buffered", {**ALL_ON, "DeliveryMode": "buffered"}, SOURCE_KEYS, buffered=True
    ),
    _scenario(
        "ForwardGuardDutyFindings, GuardDutyMinimumSeverity 5.5, ForwardSecurityHubFindings, labels CRITICAL only",
        {
            "ForwardGuardDutyFindings": "true",
            "ForwardSecurityHubFindings": "true",
            **Filters("5.5", ("CRITICAL",)).parameters(),
        },
        ("Health", "GuardDuty", "SecurityHub"),
        filters=Filters("5.5", ("CRITICAL",)),
    ),
    _scenario("OrganizationId set (defaults otherwise)", ORGANIZATION, ("Health",), organization=True),
    _scenario(
        "OrganizationId set, every Forward* true (direct)", {**ORGANIZATION, **ALL_ON}, SOURCE_KEYS, organization=True
    ),
    _scenario(
        "OrganizationId set, every Forward* true, buffered, GuardDutyMinimumSeverity 7, labels CRITICAL,HIGH",
        {**ORGANIZATION, **ALL_ON, "DeliveryMode": "buffered", **Filters("7", ("CRITICAL", "HIGH")).parameters()},
        SOURCE_KEYS,
        organization=True,
        buffered=True,
        filters=Filters("7", ("CRITICAL", "HIGH")),
    ),
    _scenario("OrganizationId set, every Forward* false", {**ORGANIZATION, **ALL_OFF}, (), organization=True),
)
# Run in every scenario, of this module and scenarios.py alike.
ALWAYS = (check_no_open_principal,)
ALWAYS_CHECKED = 'no Allow for principal "*" without an organisation condition'
