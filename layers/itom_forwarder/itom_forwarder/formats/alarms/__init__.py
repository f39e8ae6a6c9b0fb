"""CloudWatch alarms, by each route they arrive by (sns_notification.py: the SNS
notification, eventbridge.py: the EventBridge event, alarm_action.py: the direct alarm
action), with their one shared mapping (mapping.py), the per-alarm overrides
(overrides.py) and the deployment's field templates (templates.py).

Nothing is imported with the package: an SNS alarm's cold start loads its own route's
module, not the other two, nor the templates unless FIELD_TEMPLATES is set."""

from __future__ import annotations

__all__: list[str] = []
