"""What every CloudWatch alarm shape has in common: each route (the SNS notification, the
EventBridge event, the direct alarm action) parses its own shape into `AlarmFacts`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import NamedTuple

# Value records are NamedTuples, not dataclasses: building a dataclass costs ~1 ms of a cold
# start on Python 3.13 (its methods are generated and compiled when the module loads).
_NOTHING: Mapping[str, str] = MappingProxyType({})


class Dimension(NamedTuple):
    name: str
    value: str


class MetricRef(NamedTuple):
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


class ChildAlarm(NamedTuple):
    arn: str
    state: str | None

    @property
    def name(self) -> str:
        return self.arn.split(":alarm:", 1)[-1]


class Contributor(NamedTuple):
    """One time series of a multi time series (Metrics Insights) alarm."""

    id: str
    attributes: Mapping[str, str] = _NOTHING


class AlarmFacts(NamedTuple):
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
    tags: Mapping[str, str] = _NOTHING
    # Shape-specific details for additional_info (statistic, threshold...).
    details: Mapping[str, object] = _NOTHING
