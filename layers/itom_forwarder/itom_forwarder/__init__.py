"""Forward AWS alerts (CloudWatch alarms, generic alerts) to ServiceNow Event Management."""

__version__ = "0.1.0"
