"""What every CloudWatch alarm shape has in common, and how it becomes an ITOM event.

Each route (the SNS notification, the EventBridge event, the direct alarm action) parses
its own shape into `AlarmFacts`; `to_events` is the one mapping from those facts to
ServiceNow's fields, so an alarm keeps its message key, node and severity whichever route
it arrives by. Precedence: per-alarm override > deployment field template > built-in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import quote

from itom_forwarder.formats.alarms.facts import AlarmFacts, Dimension
from itom_forwarder.formats.alarms.overrides import parse_overrides, split_description
from itom_forwarder.formats.customise import customised
from itom_forwarder.formats.options import MappingOptions
from itom_forwarder.itom_event import ItomEvent, format_time, valid_text

# Dimensions that name the monitored entity itself, most specific first. A metric with
# several (TargetGroup and LoadBalancer, ServiceName and ClusterName) names the first.
RESOURCE_DIMENSIONS: tuple[str, ...] = (
    "InstanceId",
    "DBInstanceIdentifier",
    "DBClusterIdentifier",
    "FunctionName",
    "TargetGroup",
    "LoadBalancer",
    "LoadBalancerName",
    "ServiceName",
    "ClusterName",
    "CacheClusterId",
    "QueueName",
    "TopicName",
    "TableName",
    "BucketName",
    "StreamName",
    "DeliveryStreamName",
    "StateMachineArn",
    "ApiName",
    "ApiId",
    "DistributionId",
    "NatGatewayId",
    "VolumeId",
    "AutoScalingGroupName",
    "DomainName",
    "BrokerName",
    "FileSystemId",
)


def alarm_key(facts: AlarmFacts) -> str:
    """The message key: the alarm ARN (plus the contributor of a multi time series alarm),
    so every state of one alarm, or of one of its time series, updates one alert.

    Old notifications have no AlarmArn; the ARN is rebuilt from what they carry, so the
    key is the one a newer notification of the same alarm gives.
    """
    if facts.arn:
        key = facts.arn
    elif facts.region and facts.account_id:
        key = f"arn:aws:cloudwatch:{facts.region}:{facts.account_id}:alarm:{facts.name}"
    else:
        key = ":".join(part for part in (facts.account_id, facts.region, facts.name) if part)
    return f"{key}:contributor/{facts.contributor.id}" if facts.contributor else key


_RESOURCE_RANK = {name: rank for rank, name in enumerate(RESOURCE_DIMENSIONS)}


def node_of(dimensions: Sequence[Dimension]) -> str | None:
    """The value of the most specific resource dimension (the last of a repeated name),
    else the first dimension's."""
    by_name = {dimension.name: dimension.value for dimension in dimensions}
    best: str | None = None
    best_rank = len(RESOURCE_DIMENSIONS)
    for name, value in by_name.items():  # a few dimensions, not the whole table
        rank = _RESOURCE_RANK.get(name, best_rank)
        if rank < best_rank and value:
            best, best_rank = value, rank
    if best is not None:
        return best
    return dimensions[0].value if dimensions else None


# What quote(safe="") leaves as it is: a name of only these needs no quoting.
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~-]*")


def console_url(region: str | None, alarm_name: str) -> str | None:
    if not region:
        return None
    name = alarm_name if _UNQUOTED.fullmatch(alarm_name) else quote(valid_text(alarm_name), safe="")
    # valid_text: a lone surrogate cannot be quoted.
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#alarmsV2:alarm/{name}"


_INSIGHTS_QUERY = re.compile(
    r'^\s*SELECT\s+\w+\(\s*"?([^")\s]+)"?\s*\)\s+FROM\s+(?:SCHEMA\(\s*)?"?([^",)\s]+)"?', re.IGNORECASE
)


def _insights_query(expression: str) -> tuple[str, str] | None:
    """(metric name, namespace) of a Metrics Insights query, e.g. `SELECT AVG(CPUUtilization)
    FROM SCHEMA("AWS/EC2", InstanceId) GROUP BY InstanceId`."""
    match = _INSIGHTS_QUERY.match(expression)
    return (match.group(1), match.group(2)) if match else None


class _Metric(NamedTuple):
    name: str | None
    namespace: str | None
    dimensions: Sequence[Dimension]
    info: dict[str, object]


def _monitored_metric(facts: AlarmFacts) -> _Metric:
    """What the alarm watches. Metric math: the expression that returns data (its label,
    else `id: expression`); anomaly detection: the metric the band is built on; the
    namespace and dimensions of the metrics read, when they all share them."""
    if not facts.metrics:
        return _Metric(facts.metric_name, facts.namespace, facts.dimensions, {})
    query = next((m for m in facts.metrics if m.returns_data and m.expression), None)
    insights = _insights_query(query.expression) if query and query.expression else None
    if query and insights:
        # A Metrics Insights alarm: the metric and namespace come from the query; for one
        # time series (a contributor) its GROUP BY attributes name the entity.
        attributes = facts.contributor.attributes if facts.contributor else {}
        series = [Dimension(key, value) for key, value in attributes.items()]
        return _Metric(query.label or insights[0], insights[1], series, {"query": query.expression})
    candidates = [m for m in facts.metrics if m.returns_data and m.id != facts.threshold_metric_id]
    returned = candidates[0] if candidates else facts.metrics[0]
    name: str | None
    if returned.label:
        name = returned.label
    elif returned.expression:
        name = f"{returned.id}: {returned.expression}" if returned.id else returned.expression
    else:
        name = returned.name
    read = [m for m in facts.metrics if not m.expression]
    info: dict[str, object] = {"metrics": [m.summary() for m in facts.metrics]}
    if returned.expression:
        info["expression"] = returned.expression
    band = next((m for m in facts.metrics if m.id == facts.threshold_metric_id), None)
    if band is not None:
        info["anomaly_band"] = band.expression
    namespaces = {m.namespace for m in read}
    dimension_sets = {tuple(m.dimensions) for m in read}
    namespace = next(iter(namespaces)) if len(namespaces) == 1 else None
    dimensions: Sequence[Dimension] = next(iter(dimension_sets)) if len(dimension_sets) == 1 else ()
    if len(namespaces) > 1 or len(dimension_sets) > 1:
        unset = ["type"] * (len(namespaces) > 1) + ["node", "resource"] * (len(dimension_sets) > 1)
        info["metrics_note"] = (
            f"the metrics read do not share one namespace and one set of dimensions: {', '.join(unset)} left unset"
        )
    return _Metric(name, namespace, dimensions, info)


def _description(facts: AlarmFacts, description: str | None) -> str:
    subject = f"CloudWatch alarm {facts.name!r}"
    if facts.contributor:
        attributes = ", ".join(f"{k}={v}" for k, v in facts.contributor.attributes.items()) or facts.contributor.id
        subject += f" [{attributes}]"
    lines = [f"{subject} is {facts.state}"]
    if description:
        lines.append(description)
    if facts.alarm_rule:
        lines.append(f"Alarm rule: {facts.alarm_rule}")
    if facts.children:
        lines.append("Triggered by: " + ", ".join(f"{child.name} ({child.state or '?'})" for child in facts.children))
    if facts.reason:
        lines.append(facts.reason)
    return "\n".join(lines)


def _template_values(facts: AlarmFacts, metric: _Metric) -> dict[str, object]:
    values: dict[str, object] = {
        "alarm.name": facts.name,
        "alarm.arn": facts.arn,
        "alarm.state": facts.state,
        "alarm.previous_state": facts.previous_state,
        "alarm.account": facts.account_id,
        "alarm.region": facts.region,
        "alarm.description": facts.description,
        "alarm.reason": facts.reason,
        "alarm.metric": metric.name,
        "alarm.namespace": metric.namespace,
        "alarm.rule": facts.alarm_rule,
        "alarm.time": facts.changed_at.isoformat() if facts.changed_at else None,
        "alarm.contributor": facts.contributor.id if facts.contributor else None,
    }
    values |= {f"dimensions.{d.name}": d.value for d in metric.dimensions}
    values |= {f"tags.{key}": value for key, value in facts.tags.items()}
    if facts.contributor:
        values |= {f"contributor.{key}": value for key, value in facts.contributor.attributes.items()}
    return values


_EMPTY: tuple[object, ...] = (None, "", [], {})


def _event_class(account_id: str | None, region: str | None) -> str | None:
    if account_id and region:
        return f"{account_id}/{region}"
    return account_id or region or None


def to_events(facts: AlarmFacts, options: MappingOptions, context: Mapping[str, object]) -> list[ItomEvent]:
    """Map one alarm state change; `context` adds route details (SNS message id...).
    Returns no event when the alarm's state is configured to send nothing."""
    description, description_lines = split_description(facts.description)
    overrides = parse_overrides(facts.tags, description_lines)
    if facts.state in overrides.severity_by_state:
        severity = overrides.severity_by_state[facts.state]
    else:
        severity = options.severity_by_alarm_state.get(facts.state, options.default_severity)
    if severity is None:
        return []
    metric = _monitored_metric(facts)
    info: dict[str, Any] = {
        "alarm_name": facts.name,
        "alarm_arn": facts.arn,
        "account_id": facts.account_id,
        "region": facts.region,
        "old_state": facts.previous_state,
        "new_state": facts.state,
        **facts.details,
        **metric.info,
    }
    if facts.alarm_rule:
        info["alarm_rule"] = facts.alarm_rule
        info["triggering_children"] = [{"arn": child.arn, "state": child.state} for child in facts.children]
    if facts.contributor:
        info["contributor_id"] = facts.contributor.id
        info["contributor_attributes"] = dict(facts.contributor.attributes)
    if facts.tags:
        info["alarm_tags"] = dict(facts.tags)
    if overrides.problems:
        info["override_problems"] = list(overrides.problems)
    info |= context
    info["console_url"] = console_url(facts.region, facts.name)
    built_in = ItomEvent(
        severity=severity,
        source=options.alarm_source,
        event_class=_event_class(facts.account_id, facts.region),
        node=node_of(metric.dimensions),
        resource=", ".join(f"{d.name}={d.value}" for d in metric.dimensions) or None,
        metric_name=metric.name,
        type=metric.namespace,
        description=_description(facts, description),
        message_key=alarm_key(facts),
        time_of_event=format_time(facts.changed_at) if facts.changed_at else None,
        source_time=facts.changed_at,
        # A truthy value is kept at once: only a falsy one can be empty (0 and false are kept).
        additional_info={key: value for key, value in info.items() if value or value not in _EMPTY},
    )
    # The template values only for templates to render: a warm alert does not build them.
    values = _template_values(facts, metric) if options.field_templates else {}
    return [
        customised(
            built_in,
            options.field_templates,
            values,
            overrides.fields,
            severity_overridden=facts.state in overrides.severity_by_state,
        )
    ]
