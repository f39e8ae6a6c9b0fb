"""Grafana unified alerting webhooks (version "1"), on the real public samples."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from itom_forwarder.formats import MappingOptions, Notification, alertmanager, grafana, shapes, to_events
from itom_forwarder.itom_event import InvalidPayload
from tests.samples import load

SETTINGS = MappingOptions()
FIRING = "grafana-docs-grafana-webhook-firing-two-alerts.json"
RESOLVED = "zulip-grafana-webhook-resolved.json"
ALERTMANAGER_SAMPLES = (
    "prometheus-msteams-alertmanager-webhook-v4-firing.json",
    "prom2teams-alertmanager-webhook-v4-resolved.json",
)


def records(payload: dict[str, Any]) -> list[dict[str, str]]:
    name, events = to_events(Notification(message=json.dumps(payload)), SETTINGS)
    assert name == "grafana"
    return [event.to_record() for event in events]


def info_of(record: dict[str, str]) -> dict[str, str]:
    info: dict[str, str] = json.loads(record["additional_info"])
    return info


def test_firing_webhook_gives_one_event_per_alert() -> None:
    first, second = records(load(FIRING))
    assert (first["message_key"], second["message_key"]) == ("grafana:c6eadffa33fcdf37", "grafana:bc97ff14869b13e3")
    assert (first["severity"], second["severity"]) == ("4", "4")  # no severity label: DEFAULT_SEVERITY
    assert first["source"] == "Grafana"
    assert first["metric_name"] == "High memory usage"
    assert first["event_class"] == "play.grafana.org"
    assert first["time_of_event"] == "2021-10-12 07:51:03"  # startsAt +02:00 in UTC
    assert first["description"].splitlines() == [
        "[FIRING] High memory usage",
        "This alert was triggered for zone us-1",
        "The system has high memory usage",
    ]
    assert "node" not in first  # no instance or host label: nothing invented


def test_firing_additional_info_keeps_values_links_and_org() -> None:
    info = info_of(records(load(FIRING))[0])
    assert json.loads(info["values"]) == {"B": 44.23943737541908, "C": 1}  # numbers as they are
    assert info["silence_url"].startswith("https://play.grafana.org/alerting/silence/new?")
    assert info["generator_url"] == "https://play.grafana.org/alerting/1afz29v7z/edit"
    assert info["org_id"] == "1"
    assert info["fingerprint"] == "c6eadffa33fcdf37"
    assert info["grafana_url"] == "https://play.grafana.org/"
    assert (info["receiver"], info["group_key"], info["status"]) == ("My Super Webhook", "{}:{}", "firing")
    assert json.loads(info["labels"])["zone"] == "us-1"
    assert json.loads(info["annotations"])["runbook_url"] == "https://myrunbook.com/runbook/1234"
    assert not {"dashboard_url", "panel_url", "value_string", "image_url"} & info.keys()  # "" or absent


@pytest.mark.parametrize(("label", "severity"), [("critical", "1"), ("High", "2"), ("warning", "4"), ("odd", "4")])
def test_severity_label(label: str, severity: str) -> None:
    payload = copy.deepcopy(load(FIRING))
    payload["alerts"][0]["labels"]["severity"] = label
    assert [record["severity"] for record in records(payload)] == [severity, "4"]


def test_severity_annotation_counts_without_a_label_and_the_label_wins() -> None:
    payload = copy.deepcopy(load(FIRING))
    payload["alerts"][0]["annotations"]["severity"] = "critical"
    payload["alerts"][1]["annotations"]["severity"] = "critical"
    payload["alerts"][1]["labels"]["severity"] = "minor"
    assert [record["severity"] for record in records(payload)] == ["1", "3"]


def test_resolved_webhook_clears_with_the_value_string() -> None:
    [record] = records(load(RESOLVED))
    assert record["severity"] == "0"
    assert record["message_key"] == "grafana:d8a21484c9c25a60"
    assert record["time_of_event"] == "2022-06-17 00:51:24"  # endsAt
    value_string = load(RESOLVED)["alerts"][0]["valueString"]
    assert record["description"].splitlines() == [
        "[RESOLVED] Test alert",
        "This is a summary field, failure on <no value>",
        "This is a description",
        value_string,
    ]
    info = info_of(record)
    assert info["value_string"] == value_string
    assert "values" not in info  # the sample has none
    assert info["group_key"] == '{}/{test="true"}:{}'


def test_firing_and_resolved_of_one_alert_share_the_key() -> None:
    firing = copy.deepcopy(load(RESOLVED))
    firing["status"] = firing["alerts"][0]["status"] = "firing"
    firing["alerts"][0]["endsAt"] = "0001-01-01T00:00:00Z"
    [first], [second] = records(firing), records(load(RESOLVED))
    assert first["message_key"] == second["message_key"]
    assert (first["severity"], second["severity"]) == ("4", "0")
    assert first["time_of_event"] == "2022-06-17 00:41:00"  # startsAt


def test_without_fingerprint_the_key_hashes_the_labels_whatever_their_order() -> None:
    payload = copy.deepcopy(load(FIRING))
    alert = payload["alerts"][0]
    del alert["fingerprint"]
    reordered = copy.deepcopy(payload)
    reordered["alerts"][0]["labels"] = dict(reversed(alert["labels"].items()))
    key, again = records(payload)[0]["message_key"], records(reordered)[0]["message_key"]
    assert key == again
    assert key == f"grafana:{alertmanager.labels_hash(alert['labels'])}"
    assert len(key.removeprefix("grafana:sha256:")) == 32


def test_instance_label_gives_node_without_port_and_resource() -> None:
    payload = copy.deepcopy(load(FIRING))
    payload["alerts"][0]["labels"].update(instance="node-3.example.internal:9100", job="node")
    record = records(payload)[0]
    assert (record["node"], record["resource"], record["type"]) == (
        "node-3.example.internal",
        "node-3.example.internal:9100",
        "node",
    )


def test_a_per_alert_org_id_and_image_url_are_kept() -> None:
    payload = copy.deepcopy(load(FIRING))
    payload["alerts"][0].update(orgId=7, imageURL="https://grafana.example.com/render/1.png")
    first, second = (info_of(record) for record in records(payload))
    assert (first["org_id"], first["image_url"]) == ("7", "https://grafana.example.com/render/1.png")
    assert second["org_id"] == "1"  # the webhook's


def test_huge_values_are_bounded_with_a_note() -> None:
    payload = copy.deepcopy(load(FIRING))
    payload["alerts"][0]["values"] = {f"V{index}": index for index in range(150)}
    info = info_of(records(payload)[0])
    assert info["values_truncated"] == "50 more not shown"


@pytest.mark.parametrize("name", [FIRING, RESOLVED])
def test_grafana_samples_are_grafana_and_alertmanager_shaped(name: str) -> None:
    payload = load(name)
    assert shapes.is_grafana(payload)
    assert shapes.is_alertmanager(payload)  # a superset: FORMATS' order decides


@pytest.mark.parametrize("name", ALERTMANAGER_SAMPLES)
def test_alertmanager_samples_are_not_grafana(name: str) -> None:
    payload = load(name)
    assert not shapes.is_grafana(payload)
    assert to_events(Notification(message=json.dumps(payload)), SETTINGS)[0] == "alertmanager"


@pytest.mark.parametrize("mark", [{"version": "1"}, {"orgId": 3}])
def test_either_mark_makes_an_alertmanager_shape_grafana(mark: dict[str, object]) -> None:
    payload = {**load(ALERTMANAGER_SAMPLES[0]), "version": "4", **mark}
    assert shapes.is_grafana(payload)


def test_a_bogus_status_is_refused_naming_the_index() -> None:
    payload = copy.deepcopy(load(FIRING))
    payload["alerts"][1]["status"] = "bogus"
    with pytest.raises(InvalidPayload, match=r"^alerts\[1\]\.status: 'bogus' is not firing or resolved$") as raised:
        grafana.to_events(payload, Notification(message=""), SETTINGS)
    [problem] = raised.value.problems
    assert (problem.index, problem.field) == (1, "status")


def test_alerts_that_are_not_objects_are_refused_naming_each_index() -> None:
    payload = copy.deepcopy(load(FIRING))
    payload["alerts"][0] = "not an alert"
    payload["alerts"].append(5)
    with pytest.raises(InvalidPayload) as raised:
        to_events(Notification(message=json.dumps(payload)), SETTINGS)
    assert [(problem.index, problem.reason) for problem in raised.value.problems] == [
        (0, "must be an object, got str"),
        (2, "must be an object, got int"),
    ]


@pytest.mark.parametrize("payload", [[1, 2], "text", None, {"status": "firing", "alerts": "x"}, {"version": "1"}])
def test_what_is_no_webhook_is_refused(payload: object) -> None:
    with pytest.raises(InvalidPayload, match=r"^payload: expected a Grafana webhook \(version 1\)"):
        grafana.to_events(payload, Notification(message=""), SETTINGS)


def test_empty_and_oversized_webhooks_are_refused() -> None:
    payload = copy.deepcopy(load(FIRING))
    payload["alerts"] = []
    with pytest.raises(InvalidPayload, match=r"^alerts: empty"):
        records(payload)
    payload["alerts"] = load(FIRING)["alerts"] * 501
    with pytest.raises(InvalidPayload, match=r"^alerts: 1002 alerts, at most 1000 per message$"):
        records(payload)
