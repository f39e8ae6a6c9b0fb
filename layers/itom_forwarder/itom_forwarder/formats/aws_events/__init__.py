"""The AWS services' events on EventBridge other than CloudWatch alarms: AWS Health,
GuardDuty, Security Hub, Config and DevOps Guru, one pure module each. Each reads its
event into a `Signal` (what one ServiceNow alert is about, and whether it is open or
closed); `common.to_event` turns a signal into the ITOM event the same way for all.
"""

from __future__ import annotations

__all__: list[str] = []
