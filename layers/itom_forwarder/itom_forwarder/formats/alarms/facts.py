"""What every CloudWatch alarm shape has in common: each route (the SNS notification, the
EventBridge event, the direct alarm action) parses its own shape into `AlarmFacts`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Dimension:
    name: str
    value: str


@dataclass(frozen=True)
class MetricRef:
    """One entry of an alarm's metrics: a metric it reads, or an expression."""

    id: str | None = None
    returns_data: bool = False
    expression: str | None = None
    label: str | None = None
    namespace: str | None = None
    name: str | None = None
    dimensions: Sequence[Dimension] = ()

    def summary(self) -> str:
        if self.expression:
            return f"{self.id}: {self.expression}"
        dims = ", ".join(f"{d.name}={d.value}" for d in self.dimensions)
        return f"{self.id}: {self.namespace} {self.name}" + (f" [{dims}]" if dims else "")


@dataclass(frozen=True)
class ChildAlarm:
    arn: str
    state: str | None

    @property
    def name(self) -> str:
        return self.arn.split(":alarm:", 1)[-1]


@dataclass(frozen=True)
class Contributor:
    """One time series of a multi time series (Metrics Insights) alarm."""

    id: str
    attributes: Mapping[str, str] = field(default_factory=dict)


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
    # Classic single metric: metric_name/namespace/dimensions; otherwise from `metrics`.
    metric_name: str | None = None
    namespace: str | None = None
    dimensions: Sequence[Dimension] = ()
    metrics: Sequence[MetricRef] = ()
    threshold_metric_id: str | None = None
    alarm_rule: str | None = None
    children: Sequence[ChildAlarm] = ()
    contributor: Contributor | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    # Shape-specific details for additional_info (statistic, threshold...).
    details: Mapping[str, object] = field(default_factory=dict)
