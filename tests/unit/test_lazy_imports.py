"""What loads lazily stays reachable, and stays lazy: the input formats (a format's module
is imported when its mapper is first called; picking the format reads only formats/shapes.py),
the API routes' mappers, the webhook credentials and the field templates (imported only when
FIELD_TEMPLATES is set). An eager import added back (in formats/__init__.py,
formats/alarms/__init__.py, customise.py, api_routes.py, settings.py, secrets.py or
webhook_auth) fails the fresh-interpreter test below."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from itom_forwarder import formats, webhook_auth
from itom_forwarder.api_routes import ROUTES
from itom_forwarder.failures import ConfigError
from itom_forwarder.settings import MAPPING, Settings
from local.runner import CODE_PATHS
from tests.integration.test_cold_start_imports import OFF_THE_ALERT_PATH
from tests.samples import ROOT

REQUIRED = {"SERVICENOW_SECRET_ID": "servicenow", "DLQ_URL": "https://sqs.eu-west-1.amazonaws.com/1/dlq"}


# In a fresh interpreter: the handler, the container's settings, the alert trigger and the
# mapping of one SNS CloudWatch alarm; what of ours is loaded before and after the mapping.
CHILD = """
import json, os, sys
os.environ.update({required!r})
import app
from itom_forwarder import container, formats
from itom_forwarder.inbound import read_records
import itom_forwarder.triggers.asynchronous

settings = container.current().settings
started = sorted(m for m in sys.modules if m.startswith("itom_forwarder"))
[inbound] = read_records(json.load(open("events/sns-cloudwatch-alarm.json")))
name, events = formats.to_events(inbound.notification, settings.mapping)
mapped = sorted(m for m in sys.modules if m.startswith("itom_forwarder"))
print(json.dumps({{"format": name, "events": len(events), "templates": repr(settings.mapping.field_templates),
                  "started": started, "mapped": mapped}}))
"""


def _off_the_alert_path(modules: list[str]) -> list[str]:
    return [name for name in modules if any(name == off or name.startswith(off + ".") for off in OFF_THE_ALERT_PATH)]


def test_an_alarm_cold_start_loads_only_the_alarm_formats() -> None:
    env = {"PYTHONPATH": ":".join(str(path) for path in CODE_PATHS), "PATH": "/usr/bin:/bin"}
    completed = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", CHILD.format(required=REQUIRED)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(completed.stdout.strip().splitlines()[-1])
    assert (found["format"], found["events"], found["templates"]) == ("cloudwatch_alarm", 1, "None")
    # Started, settings read and checked: no format module yet, not even the alarms'.
    assert not [name for name in found["started"] if name.startswith("itom_forwarder.formats.alarms")]
    assert "itom_forwarder.formats.alarms.sns_notification" in found["mapped"]
    assert _off_the_alert_path(found["mapped"]) == []


def test_every_format_of_the_table_resolves() -> None:
    """Eleven formats, each with its own name and a test of its shape: None is in no format."""
    names = [name for name, _, _ in formats.FORMATS]
    assert len(set(names)) == len(names) == 11
    for name, matches, _ in formats.FORMATS:
        assert matches(None) is False, name


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_every_route_resolves_its_format(path: str) -> None:
    assert ROUTES[path].items_of(None) is None


def test_field_templates_are_still_checked_at_start() -> None:
    refused = Settings.from_environ({**REQUIRED, "FIELD_TEMPLATES": '{"node": "{{alarm.nmae}}"}'})
    assert refused.refusals[MAPPING].startswith("mapping settings refused: FIELD_TEMPLATES: node: unknown value")
    valid = Settings.from_environ({**REQUIRED, "FIELD_TEMPLATES": '{"node": "{{alarm.name}}"}'})
    assert valid.mapping.field_templates is not None
    assert valid.mapping.field_templates.templates == {"node": "{{alarm.name}}"}
    assert not valid.refusals
    for blank in ("", "  "):
        assert Settings.from_environ({**REQUIRED, "FIELD_TEMPLATES": blank}).mapping.field_templates is None


def test_an_unusable_ingest_secret_is_still_a_config_error() -> None:
    from itom_forwarder.secrets import IngestSecret

    class Client:
        def call(self, operation: str, payload: dict[str, str]) -> dict[str, str]:
            return {"SecretString": json.dumps({"bearer_tokens": "not a list"})}

    secret = IngestSecret("ingest", max_age_seconds=60, client=Client)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="secret 'ingest': bearer_tokens"):
        secret.current()


def test_webhook_auth_names_load_on_first_use() -> None:
    """Whichever name comes first, `verify` is the function (not its submodule) and every
    name of __all__ is there."""
    code = (
        "from itom_forwarder.webhook_auth import Verdict\n"
        "import itom_forwarder.webhook_auth as auth\n"
        "assert callable(auth.verify) and not hasattr(auth.verify, '__file__'), auth.verify\n"
        "assert all(getattr(auth, name) is not None for name in auth.__all__)\n"
        "assert set(auth.__all__) <= set(dir(auth))\n"
    )
    env = {"PYTHONPATH": ":".join(str(path) for path in CODE_PATHS), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)  # noqa: S603
    assert webhook_auth.verify.__module__ == "itom_forwarder.webhook_auth.verify"
    with pytest.raises(AttributeError):
        webhook_auth.no_such_name  # type: ignore[attr-defined]  # noqa: B018
