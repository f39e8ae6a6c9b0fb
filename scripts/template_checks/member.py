"""templates/member-account.yaml, the member accounts' template (plain CloudFormation, deployed
with a StackSet), resolved per scenario like template.yaml (resolve.py) and checked:
  - it is plain CloudFormation (no Transform); its toggles and filters are template.yaml's (the
    same parameters with the same Type, Default, AllowedValues, MinValue and MaxValue);
    CentralEventBusArn has no default, and its AllowedPattern takes event bus ARNs and refuses
    anything else (a rule's or a queue's ARN, a bare name, "");
  - the rules: exactly one per ForwardXxx "true", on the member's default bus, ENABLED, each
    with the event pattern of its source (service_events.expected_pattern) and the very pattern
    template.yaml's rule of that source has for the same parameters (so the central bus's rules
    match what the members send), one target: CentralEventBusArn with ForwardToCentralBusRole,
    RetryPolicy 86400 s / 185 attempts, DeadLetterConfig the member's DeadLetterQueue;
  - ForwardToCentralBusRole (with any rule, none without): only events.amazonaws.com may assume
    it, with aws:SourceAccount this account; it may only events:PutEvents on exactly the central
    bus; no managed policies;
  - DeadLetterQueue, in every scenario: encrypted (SqsManagedSseEnabled, or a KMS key), 14-day
    retention; its policy lets events.amazonaws.com sqs:SendMessage from exactly the rules that
    exist (none without), allows nothing else, and denies insecure transport;
  - no Allow for principal "*" anywhere (service_events.check_no_open_principal).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from template_checks.resolve import JsonObject, Resolved, ResolveError
from template_checks.scenarios import BASE, _get_att, _listed, _object, _only, _statements, role_statements
from template_checks.service_events import (
    ACCOUNT,
    ALL_OFF,
    ALL_ON,
    DLQ_ARN,
    EVENTS,
    SHARED_PARAMETERS,
    SOURCE_KEYS,
    SOURCES,
    Filters,
    Source,
    check_no_open_principal,
    event_sender_problems,
    rule_problems,
    rule_set_problems,
    target_problems,
)

BUS_ARN = "arn:aws:events:eu-west-1:210987654321:event-bus/itom-forwarder-central"
ROLE = "ForwardToCentralBusRole"
ROLE_ARN = _get_att(ROLE, "Arn")
# What the CentralEventBusArn pattern must take, and must refuse.
BUS_ARNS = (BUS_ARN, "arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/central.bus_1")
NOT_BUS_ARNS = (
    "",
    "itom-forwarder-central",
    "arn:aws:events:eu-west-1:210987654321:rule/itom-forwarder-central/HealthEventsRule",
    "arn:aws:sqs:eu-west-1:210987654321:itom-forwarder-dlq",
    "arn:aws:events:eu-west-1:21098765432:event-bus/short-account-id",
)
# The parameter keys that must be the same in both templates (not Description).
COMPARED_KEYS = ("Type", "Default", "AllowedValues", "MinValue", "MaxValue", "AllowedPattern")
RETENTION_SECONDS = "1209600"  # 14 days


class MemberCheckError(Exception):
    """The member template's checks failed (the message lists every finding)."""


def parameter_problems(member: Mapping[str, Any], central: Mapping[str, Any]) -> list[str]:
    """Plain CloudFormation; the shared parameters defined alike; CentralEventBusArn required,
    its pattern taking bus ARNs only."""
    failures = (
        [f"has a Transform ({member['Transform']!r}): it is plain CloudFormation"] if "Transform" in member else []
    )
    mine, theirs = _object(member.get("Parameters")), _object(central.get("Parameters"))
    for name in SHARED_PARAMETERS:
        a = {key: _object(mine.get(name)).get(key) for key in COMPARED_KEYS}
        b = {key: _object(theirs.get(name)).get(key) for key in COMPARED_KEYS}
        if name not in mine or a != b:
            failures.append(f"parameter {name} is {a}, template.yaml's {b}")
    bus = _object(mine.get("CentralEventBusArn"))
    if "Default" in bus:
        failures.append("CentralEventBusArn has a default (it must be given)")
    pattern = str(bus.get("AllowedPattern", ""))
    failures += [f"CentralEventBusArn refuses {arn!r}" for arn in BUS_ARNS if not re.fullmatch(pattern, arn)]
    failures += [f"CentralEventBusArn takes {arn!r}" for arn in NOT_BUS_ARNS if re.fullmatch(pattern, arn)]
    return failures


def _role_problems(resolved: Resolved, any_rule: bool) -> list[str]:
    if not any_rule:
        return [f"{ROLE} exists without a rule"] if ROLE in resolved.resources else []
    props = resolved.properties(ROLE)
    if not props:
        return [f"no {ROLE}"]
    trust = _statements(props.get("AssumeRolePolicyDocument"))
    wanted = {
        "Effect": "Allow",
        "Principal": {"Service": EVENTS},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }
    failures = [] if trust == [wanted] else [f"{ROLE} trust is {trust!r}, not [{wanted!r}]"]
    statements = role_statements(resolved, ROLE)
    if len(statements) != 1:
        failures.append(f"{ROLE} has {len(statements)} permission statements, not 1")
    failures += [
        f"{ROLE} statement {problem}" for s in statements if (problem := _only(s, "events:PutEvents", BUS_ARN))
    ]
    if props.get("ManagedPolicyArns"):
        failures.append(f"{ROLE} has managed policies")
    return failures


def _queue_problems(resolved: Resolved, rules: set[str]) -> list[str]:
    queue = resolved.properties("DeadLetterQueue")
    failures = []
    if queue.get("SqsManagedSseEnabled") is not True and not queue.get("KmsMasterKeyId"):
        failures.append("DeadLetterQueue is not encrypted (SqsManagedSseEnabled or KmsMasterKeyId)")
    if str(queue.get("MessageRetentionPeriod")) != RETENTION_SECONDS:
        failures.append(f"DeadLetterQueue keeps messages {queue.get('MessageRetentionPeriod')!r} s, not 14 days")
    document = _object(resolved.properties("DeadLetterQueuePolicy").get("PolicyDocument"))
    if resolved.properties("DeadLetterQueuePolicy").get("Queues") != [{"Ref": "DeadLetterQueue"}]:
        failures.append("DeadLetterQueuePolicy is not the policy of DeadLetterQueue")
    failures += event_sender_problems("DeadLetterQueuePolicy", document, DLQ_ARN, rules)
    statements = _statements(document)
    failures += [
        f"DeadLetterQueuePolicy also allows {s.get('Principal')!r}"
        for s in statements
        if s.get("Effect") == "Allow" and _listed(_object(s.get("Principal")).get("Service")) != [EVENTS]
    ]
    tls = {"Bool": {"aws:SecureTransport": "false"}}
    if not any(s.get("Effect") == "Deny" and s.get("Condition") == tls for s in statements):
        failures.append("DeadLetterQueuePolicy does not deny insecure transport")
    return failures


def _same_as_central(resolved: Resolved, central: Resolved, chosen: list[Source]) -> list[str]:
    """Each member rule's pattern is the central default-bus rule's pattern for that source."""
    failures = []
    for source in chosen:
        pattern = central.properties(source.rule).get("EventPattern")
        mine = resolved.properties(source.rule).get("EventPattern")
        if _parsed(pattern) != _parsed(mine):
            failures.append(f"{source.rule} EventPattern {mine!r} differs from template.yaml's {pattern!r}")
    return failures


def _parsed(pattern: object) -> object:
    if isinstance(pattern, str):
        try:
            return json.loads(pattern)
        except ValueError:
            return pattern
    return pattern


@dataclass(frozen=True)
class MemberScenario:
    label: str
    sources: tuple[str, ...]
    parameters: Mapping[str, str]
    filters: Filters = field(default_factory=Filters)

    def problems(self, member: JsonObject, central: JsonObject) -> list[str]:
        overrides = {"CentralEventBusArn": BUS_ARN, **self.parameters}
        resolved = Resolved(member, overrides)
        central_resolved = Resolved(central, {**BASE, **self.parameters})
        chosen = [source for source in SOURCES if source.key in self.sources]
        rules = {source.rule for source in chosen}
        failures = rule_set_problems(resolved, rules)
        for source in chosen:
            if source.rule in resolved.resources:
                failures += rule_problems(resolved, source.rule, source, self.filters, None)
                failures += target_problems(source.rule, resolved.properties(source.rule), BUS_ARN, DLQ_ARN, ROLE_ARN)
        failures += _same_as_central(resolved, central_resolved, chosen)
        failures += _role_problems(resolved, bool(rules)) + _queue_problems(resolved, rules)
        return failures + check_no_open_principal(resolved)

    def checked(self) -> str:
        rules = (
            f"{len(self.sources)} rule{'s' if len(self.sources) > 1 else ''} ({', '.join(self.sources)})"
            if self.sources
            else "no rule, no role"
        )
        if self.sources:
            rules += (
                f" on the default bus, the patterns of template.yaml (GuardDuty >= {self.filters.minimum}, "
                f"labels {','.join(self.filters.labels)}), targeting CentralEventBusArn with {ROLE} "
                "(events.amazonaws.com of this account; events:PutEvents on that bus only), RetryPolicy 86400 s/185, "
                "the DLQ"
            )
        senders = "events.amazonaws.com from exactly these rules" if self.sources else "no events.amazonaws.com"
        return f'{rules}; DeadLetterQueue SSE, 14 days, its policy: {senders}, TLS only; no Allow for "*"'


SCENARIOS = (
    MemberScenario("defaults", ("Health",), {}),
    MemberScenario("every Forward* true", SOURCE_KEYS, ALL_ON),
    MemberScenario("every Forward* false", (), ALL_OFF),
    MemberScenario(
        "every Forward* true, GuardDutyMinimumSeverity 7, labels CRITICAL,HIGH",
        SOURCE_KEYS,
        {**ALL_ON, **Filters("7", ("CRITICAL", "HIGH")).parameters()},
        Filters("7", ("CRITICAL", "HIGH")),
    ),
)


def run(member_path: Path, central_transformed: Path) -> None:
    """Check the member template against itself and the transformed template.yaml; raises
    MemberCheckError listing every failure."""
    from samtranslator.yaml_helper import yaml_parse

    member = _object(yaml_parse(member_path.read_text(encoding="utf-8")))
    central = _object(json.loads(central_transformed.read_text(encoding="utf-8")))
    failures = [f"  FAIL {member_path}: {problem}" for problem in parameter_problems(member, central)]
    if not failures:
        print(
            f"  ok  {member_path}: plain CloudFormation; {', '.join(SHARED_PARAMETERS)} as in template.yaml; "
            "CentralEventBusArn required, an event bus ARN"
        )
    for scenario in SCENARIOS:
        try:
            found = scenario.problems(member, central)
        except ResolveError as error:
            found = [str(error)]
        failures += [f"  FAIL {member_path} {scenario.label}: {problem}" for problem in found]
        if not found:
            print(f"  ok  {member_path} {scenario.label}: {scenario.checked()}")
    if failures:
        raise MemberCheckError("\n".join(failures))
