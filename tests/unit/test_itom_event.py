"""The ITOM event model's limits and forms."""

from __future__ import annotations

import json

from itom_forwarder.itom_event import ItomEvent, encode_additional_info


def test_record_omits_none_and_cuts_every_limited_field() -> None:
    event = ItomEvent(severity="2", node="n" * 150, message_key="k" * 2000, description="d" * 5000)
    record = event.to_record()
    assert set(record) == {"severity", "node", "message_key", "description"}
    assert (len(record["node"]), len(record["message_key"]), len(record["description"])) == (100, 1024, 4000)
    assert record["node"].endswith("…")


def test_additional_info_stays_valid_json_within_the_limit() -> None:
    text = encode_additional_info({"small": "x", "big": "y" * 10_000, "other": "z" * 3000})
    assert len(text) <= 4000
    decoded = json.loads(text)
    assert decoded["small"] == "x"
    assert set(decoded) == {"small", "big", "other"}
