"""Prometheus Alertmanager webhooks (version 4), on the real public samples."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from itom_forwarder.formats import MappingOptions, Notification, alertmanager, to_events
from itom_forwarder.itom_event import InvalidPayload
from tests.samples import load

SETTINGS = MappingOptions()


def records(payload: dict[str, Any]) -> list[dict[str, str]]:
    name, events = to_events(Notification(message=json.dumps(payload)), SETTINGS)
    assert name == "alertmanager"
    return [event.to_record() for event in events]


def test_firing_alert_maps_labels_and_annotations() -> None:
    [record] = records(load("prometheus-msteams-alertmanager-webhook-v4-firing.json"))
    assert record["severity"] == "4"  # severity=warning
    assert record["metric_name"] == "high_memory_load"
    assert record["node"] == "instance-with-hyphen_and_underscore"
    assert record["type"] == "docker_nodes"
    assert record["source"] == "Prometheus Alertmanager"
    assert record["event_class"] == "docker.for.mac.host.internal:9093"
    assert record["time_of_event"] == "2018-03-07 11:33:21"  # startsAt -05:00 in UTC
    assert record["description"].splitlines() == [
        "[FIRING] high_memory_load",
        "Server High Memory usage",
        "10.80.40.11 reported high memory usage with 23.28%.",
    ]
    assert record["message_key"].startswith("alertmanager:sha256:")  # no fingerprint in this sample
    info = json.loads(record["additional_info"])
    assert json.loads(info["labels"])["job"] == "docker_nodes"
    assert info["group_key"] == '{}:{alertname="high_memory_load"}'


def test_resolved_alert_clears_with_its_fingerprint_key() -> None:
    [record] = records(load("prom2teams-alertmanager-webhook-v4-resolved.json"))
    assert record["severity"] == "0"
    assert record["message_key"] == "alertmanager:dd19ae3d4e06ac55"
    assert record["time_of_event"] == "2017-05-09 07:08:37"  # endsAt
    assert json.loads(record["additional_info"])["generator_url"] == "my.prometheusserver.url"


def test_firing_and_resolved_of_one_alert_share_the_key_without_fingerprint() -> None:
    firing = load("prometheus-msteams-alertmanager-webhook-v4-firing.json")
    resolved = copy.deepcopy(firing)
    resolved["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2018-03-07T07:00:00Z"
    [first], [second] = records(firing), records(resolved)
    assert first["message_key"] == second["message_key"]
    assert (first["severity"], second["severity"]) == ("4", "0")


@pytest.mark.parametrize(
    ("label", "severity"),
    [("critical", "1"), ("Error", "2"), ("severe", "2"), ("minor", "3"), ("warning", "4"), ("info", "5"), ("odd", "4")],
)
def test_severity_label_names(label: str, severity: str) -> None:
    payload = load("prometheus-msteams-alertmanager-webhook-v4-firing.json")
    payload["alerts"][0]["labels"]["severity"] = label
    assert records(payload)[0]["severity"] == severity


def test_instance_port_is_dropped_from_node_and_kept_in_resource() -> None:
    payload = load("prometheus-msteams-alertmanager-webhook-v4-firing.json")
    payload["alerts"][0]["labels"]["instance"] = "node-3.example.internal:9100"
    [record] = records(payload)
    assert (record["node"], record["resource"]) == ("node-3.example.internal", "node-3.example.internal:9100")


def test_one_event_per_alert_and_per_alert_status_wins() -> None:
    payload = load("prometheus-msteams-alertmanager-webhook-v4-firing.json")
    second = copy.deepcopy(payload["alerts"][0])
    second["labels"]["instance"] = "other"
    second["status"] = "resolved"
    payload["alerts"].append(second)
    assert [r["severity"] for r in records(payload)] == ["4", "0"]


def test_bad_alert_is_reported_with_its_index() -> None:
    payload = load("prometheus-msteams-alertmanager-webhook-v4-firing.json")
    payload["alerts"].append("not an alert")
    with pytest.raises(InvalidPayload) as raised:
        alertmanager.to_events(payload, Notification(message=""), SETTINGS)
    [problem] = raised.value.problems
    assert (problem.index, problem.reason) == (1, "must be an object, got str")
