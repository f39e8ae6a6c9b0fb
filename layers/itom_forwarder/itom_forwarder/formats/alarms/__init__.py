"""CloudWatch alarms, by each route they arrive by (the SNS notification, the EventBridge
event, the direct alarm action), with their one shared mapping (mapping.py), the per-alarm
overrides (overrides.py) and the deployment's field templates (templates.py)."""

from __future__ import annotations

from itom_forwarder.formats.alarms import alarm_action, eventbridge, sns_notification
from itom_forwarder.formats.alarms.templates import FieldTemplates, TemplateError

__all__ = ["FieldTemplates", "TemplateError", "alarm_action", "eventbridge", "sns_notification"]
