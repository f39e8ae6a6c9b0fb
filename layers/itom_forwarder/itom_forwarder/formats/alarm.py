"""What every CloudWatch alarm shape has in common, and how it becomes an ITOM event.

Each alarm format (the SNS notification, the EventBridge event) parses its own shape into
`AlarmFacts`; `to_event` is the one mapping from those facts to ServiceNow's fields, so
an alarm keeps the same message key, node and severity whichever route it arrives by.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from itom_forwarder.config import MappingSettings
from itom_forwarder.event import ItomEvent, format_time

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
    "Cluster Name",
)

_REGION_CODE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")

# CloudWatch's notifications carry the region's display name, whose wording has changed
# over the years; the code is read from an ARN first and this table is the last resort.
REGION_BY_DISPLAY_NAME: dict[str, str] = {
    "us east (n. virginia)": "us-east-1",
    "us east - n. virginia": "us-east-1",
    "us east (ohio)": "us-east-2",
    "us west (n. california)": "us-west-1",
    "us west - n. california": "us-west-1",
    "us west (oregon)": "us-west-2",
    "us west - oregon": "us-west-2",
    "eu (ireland)": "eu-west-1",
    "eu - ireland": "eu-west-1",
    "europe (ireland)": "eu-west-1",
    "eu (london)": "eu-west-2",
    "europe (london)": "eu-west-2",
    "eu (paris)": "eu-west-3",
    "europe (paris)": "eu-west-3",
    "eu (frankfurt)": "eu-central-1",
    "eu - frankfurt": "eu-central-1",
    "europe (frankfurt)": "eu-central-1",
    "eu (stockholm)": "eu-north-1",
    "europe (stockholm)": "eu-north-1",
    "eu (milan)": "eu-south-1",
    "europe (milan)": "eu-south-1",
    "asia pacific (tokyo)": "ap-northeast-1",
    "asia pacific - tokyo": "ap-northeast-1",
    "asia pacific (seoul)": "ap-northeast-2",
    "asia pacific (osaka)": "ap-northeast-3",
    "asia pacific (singapore)": "ap-southeast-1",
    "asia pacific - singapore": "ap-southeast-1",
    "asia pacific (sydney)": "ap-southeast-2",
    "asia pacific - sydney": "ap-southeast-2",
    "asia pacific (mumbai)": "ap-south-1",
    "asia pacific (hong kong)": "ap-east-1",
    "canada (central)": "ca-central-1",
    "south america (sao paulo)": "sa-east-1",
    "south america (são paulo)": "sa-east-1",
    "south america - sao paulo": "sa-east-1",
    "middle east (bahrain)": "me-south-1",
    "africa (cape town)": "af-south-1",
}


def as_mapping(value: object) -> Mapping[str, Any]:
    """JSON navigation that tolerates nulls and wrong types in third-party payloads."""
    return value if isinstance(value, Mapping) else {}


def region_from_arn(arn: object) -> str | None:
    """The region code of an ARN (`arn:aws:service:REGION:account:...`), if it is one."""
    if not isinstance(arn, str):
        return None
    parts = arn.split(":")
    if len(parts) > 4 and parts[0] == "arn" and _REGION_CODE.match(parts[3]):
        return parts[3]
    return None


def account_from_arn(arn: object) -> str | None:
    if not isinstance(arn, str):
        return None
    parts = arn.split(":")
    if len(parts) > 5 and parts[0] == "arn" and parts[4].isdigit():
        return parts[4]
    return None


def region_from_display_name(name: object) -> str | None:
    if not isinstance(name, str):
        return None
    if _REGION_CODE.match(name):
        return name
    return REGION_BY_DISPLAY_NAME.get(name.strip().lower())


@dataclass(frozen=True)
class Dimension:
    name: str
    value: str


@dataclass(frozen=True)
class AlarmFacts:
    """One alarm state change, whatever shape it came in."""

    name: str
    state: str
    arn: str | None = None
    account_id: str | None = None
    region: str | None = None
    description: str | None = None
    reason: str | None = None
    previous_state: str | None = None
    changed_at: datetime | None = None
    metric_name: str | None = None
    namespace: str | None = None
    dimensions: Sequence[Dimension] = ()
    alarm_rule: str | None = None
    # Shape-specific details for additional_info (statistic, threshold, ids...).
    details: Mapping[str, object] = field(default_factory=dict)


def alarm_key(facts: AlarmFacts) -> str:
    """The message key: the alarm ARN, so every state of one alarm updates one alert.

    Old notifications have no AlarmArn; the ARN is rebuilt from what they carry, so the
    key is the same one a newer notification of the same alarm would give.
    """
    if facts.arn:
        return facts.arn
    if facts.region and facts.account_id:
        return f"arn:aws:cloudwatch:{facts.region}:{facts.account_id}:alarm:{facts.name}"
    return ":".join(part for part in (facts.account_id, facts.region, facts.name) if part)


def node_of(dimensions: Sequence[Dimension]) -> str | None:
    by_name = {dimension.name: dimension.value for dimension in dimensions}
    for name in RESOURCE_DIMENSIONS:
        if by_name.get(name):
            return by_name[name]
    return dimensions[0].value if dimensions else None


def console_url(region: str | None, alarm_name: str) -> str | None:
    if not region:
        return None
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#alarmsV2:alarm/{quote(alarm_name, safe='')}"
    )


def _description(facts: AlarmFacts) -> str:
    lines = [f"CloudWatch alarm {facts.name!r} is {facts.state}"]
    if facts.description:
        lines.append(facts.description)
    if facts.alarm_rule:
        lines.append(f"Alarm rule: {facts.alarm_rule}")
    if facts.reason:
        lines.append(facts.reason)
    return "\n".join(lines)


def to_event(facts: AlarmFacts, settings: MappingSettings, context: Mapping[str, object]) -> ItomEvent:
    """Map one alarm state change; `context` adds route details (SNS message id...)."""
    severity = settings.severity_by_alarm_state.get(facts.state, settings.default_severity)
    event_class = "/".join(part for part in (facts.account_id, facts.region) if part) or None
    info: dict[str, object] = {
        "alarm_name": facts.name,
        "alarm_arn": facts.arn,
        "account_id": facts.account_id,
        "region": facts.region,
        "old_state": facts.previous_state,
        "new_state": facts.state,
        **facts.details,
        **context,
        "console_url": console_url(facts.region, facts.name),
    }
    return ItomEvent(
        severity=severity,
        source=settings.alarm_source,
        event_class=event_class,
        node=node_of(facts.dimensions),
        resource=", ".join(f"{d.name}={d.value}" for d in facts.dimensions) or None,
        metric_name=facts.metric_name,
        type=facts.namespace,
        description=_description(facts),
        message_key=alarm_key(facts),
        time_of_event=format_time(facts.changed_at) if facts.changed_at else None,
        additional_info={key: value for key, value in info.items() if value not in (None, "")},
    )
