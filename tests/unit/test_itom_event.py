"""The ITOM event model's limits and forms."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from itom_forwarder import itom_event
from itom_forwarder.itom_event import (
    MAX_INFO_ENTRIES,
    MAX_INFO_KEY,
    NESTED_TOO_DEEP,
    InvalidPayload,
    ItomEvent,
    Problem,
    cut,
    encode_additional_info,
    format_time,
    parse_time,
    shorten_key,
    stringify,
    valid_text,
)


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


# ---------------------------------------------------------------- UTF-16 limits


def units(text: str) -> int:
    """ServiceNow's (Java's) length: UTF-16 code units; fails on a lone surrogate."""
    return len(text.encode("utf-16-le")) // 2


def test_limits_count_utf16_units_and_a_cut_never_splits_a_character() -> None:
    emoji = "🚨"  # outside the BMP: two UTF-16 units
    event = ItomEvent(severity="2", node=emoji * 60, description="a" + emoji * 2500, message_key=emoji * 400)
    record = event.to_record()
    assert units(record["node"]) <= 100
    assert record["node"] == emoji * 49 + "…"  # 98 units + the ellipsis: one more would be 101
    assert units(record["description"]) <= 4000
    assert record["description"] == "a" + emoji * 1999 + "…"
    assert record["message_key"] == emoji * 400  # 800 units: within the limit, untouched


def test_cut_keeps_text_within_the_limit_untouched() -> None:
    assert cut("🚨" * 50, 100) == "🚨" * 50
    assert cut("é" * 100, 100) == "é" * 100
    assert cut("ab🚨", 3) == "ab…"
    assert cut("a🚨b", 3) == "a…"


def test_additional_info_fits_in_utf16_units() -> None:
    text = encode_additional_info({"emoji": "🚨" * 3000, "other": "x"})
    assert units(text) <= 4000
    assert json.loads(text)["other"] == "x"
    assert json.loads(text)["emoji"].endswith("🚨…")


# ---------------------------------------------------------------- long message keys


def test_long_keys_that_differ_only_at_the_end_stay_distinct() -> None:
    first, second = "k" * 1100 + "-first", "k" * 1100 + "-second"
    keys = [ItomEvent(severity="0", message_key=key).to_record()["message_key"] for key in (first, second)]
    assert keys[0] != keys[1]
    for key, original in zip(keys, (first, second), strict=True):
        assert units(key) <= 1024
        digest = hashlib.sha256(original.encode()).hexdigest()[:32]
        assert key == "k" * (1024 - 40) + f"…sha256:{digest}"
    assert ItomEvent(severity="0", message_key=first).to_record()["message_key"] == keys[0]  # stable


def test_a_key_within_the_limit_is_untouched_and_an_astral_key_is_not_split() -> None:
    assert shorten_key("k" * 1024, 1024) == "k" * 1024
    key = shorten_key("🚨" * 600, 1024)  # 1,200 units
    assert units(key) <= 1024
    assert key.startswith("🚨" * 492 + "…sha256:")


# ---------------------------------------------------------------- deep nesting


def deeply_nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


def test_a_value_too_deep_to_encode_becomes_a_marker() -> None:
    deep = deeply_nested(200_000)
    assert stringify(deep) == NESTED_TOO_DEEP
    record = ItomEvent(severity="3", resource=deep, additional_info={"deep": deep, "kept": 1}).to_record()  # type: ignore[arg-type]
    assert record["resource"] == NESTED_TOO_DEEP
    assert json.loads(record["additional_info"]) == {"deep": NESTED_TOO_DEEP, "kept": "1"}


# ---------------------------------------------------------------- times


def test_times_out_of_range_are_invalid_and_early_years_are_padded() -> None:
    for value in ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00", 10**400, "1" * 400):
        with pytest.raises(InvalidPayload, match=r"out of range|is not a time"):
            parse_time(value)
    assert format_time(datetime(5, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0005-01-02 03:04:05"


# ---------------------------------------------------------------- additional_info: contract and work


def test_the_longest_values_are_shortened_first_each_to_the_same_length() -> None:
    text = encode_additional_info({"a": "x" * 3000, "b": "y" * 2500, "c": "short", "d": "z" * 900})
    info = json.loads(text)
    assert list(info) == ["a", "b", "c", "d"]
    assert (info["c"], info["d"]) == ("short", "z" * 900)
    assert info["a"].endswith("…")
    assert info["b"].endswith("…")
    assert len(info["a"]) == len(info["b"])
    assert 3990 <= units(text) <= 4000  # what is cut is only what had to be


def test_entries_are_dropped_from_the_end_only_when_keys_alone_do_not_fit() -> None:
    info = {f"a-rather-long-key-number-{index:04d}": f"value {index}" for index in range(150)}
    text = encode_additional_info(info)
    decoded = json.loads(text)
    assert units(text) <= 4000
    note = decoded.pop("additional_info_truncated")
    assert list(decoded) == list(info)[: len(decoded)]
    assert note == f"{150 - len(decoded)} more keys not shown"
    assert len(decoded) > 90  # values gave way before keys did


def test_a_long_info_key_is_shortened_and_stays_distinct() -> None:
    decoded = json.loads(encode_additional_info({"k" * 500 + "1": "a", "k" * 500 + "2": "b"}))
    assert len(decoded) == 2
    assert all(units(key) <= 128 and "…sha256:" in key for key in decoded)


def test_16000_keys_map_correctly_with_bounded_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """The work does not grow with the keys: the first MAX_INFO_ENTRIES are considered,
    each value is turned into text once and the object is serialised once. (Before: a
    serialisation of the whole object per shortened value, 66-85 s for 16,000 keys.)"""
    counted = {"stringify": 0, "dumps": 0, "dumped": 0}
    real_stringify, real_encode = itom_event.stringify, itom_event._encode_object

    def counting_stringify(value: object) -> str:
        counted["stringify"] += 1
        return real_stringify(value)

    def counting_encode(value: Mapping[str, str]) -> str:  # the object's serialisation
        text = real_encode(value)
        counted["dumps"] += 1
        counted["dumped"] += len(text)
        return text

    monkeypatch.setattr(itom_event, "stringify", counting_stringify)
    monkeypatch.setattr(itom_event, "_encode_object", counting_encode)
    work = {}
    for size in (1_000, 16_000):
        counted.update(stringify=0, dumps=0, dumped=0)
        info = {f"key-{index:05d}": f"value {index} " * 3 for index in range(size)}
        text = encode_additional_info(info)
        work[size] = dict(counted)
        decoded = json.loads(text)
        note = decoded.pop("additional_info_truncated")
        assert units(text) <= 4000
        assert list(decoded) == list(info)[: len(decoded)]
        assert all(
            value == info[key] or (value.endswith("…") and info[key].startswith(value[:-1]))
            for key, value in decoded.items()
        )
        assert note == f"{size - len(decoded)} more keys not shown"
    assert (work[1_000]["stringify"], work[1_000]["dumps"]) == (work[16_000]["stringify"], work[16_000]["dumps"])
    assert work[16_000]["stringify"] <= MAX_INFO_ENTRIES
    assert work[16_000]["dumps"] == 1
    assert work[16_000]["dumped"] <= 4000


def test_an_entry_named_like_the_note_gives_way_to_it() -> None:
    info = {"additional_info_truncated": "mine", **{f"key-{index:03d}": "v" * 40 for index in range(300)}}
    decoded = json.loads(encode_additional_info(info))
    assert list(decoded)[-1] == "additional_info_truncated"
    shown = len(decoded) - 1
    assert decoded["additional_info_truncated"] == f"{301 - shown} more keys not shown"
    assert json.loads(encode_additional_info({"additional_info_truncated": "mine"})) == {
        "additional_info_truncated": "mine"
    }


TEXTS = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["🚨" * 700, 'é\n"\\\t' * 300, "x" * 5000, "\ud83d", "a\x00b" * 100]),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(TEXTS, st.one_of(st.none(), TEXTS, st.integers()), max_size=40), st.integers(200, 4000))
def test_additional_info_keeps_its_contract_for_any_entries_and_limit(info: dict[str, object], limit: int) -> None:
    text = encode_additional_info(info, limit)
    assert units(text) <= limit
    decoded = json.loads(text)
    assert all(isinstance(value, str) for value in decoded.values())
    note = decoded.pop("additional_info_truncated", None)
    expected = {
        shorten_key(valid_text(key), MAX_INFO_KEY): valid_text(stringify(value))
        for key, value in info.items()
        if value is not None
    }
    # What is shown is the first entries (the rest counted), each value whole or its start
    # and the ellipsis.
    assert list(decoded) == list(expected)[: len(decoded)]
    assert len(decoded) + (int(note.split()[0]) if note else 0) == len(expected)
    for key, value in decoded.items():
        assert value == expected[key] or (value.endswith("…") and expected[key].startswith(value[:-1]))


def test_the_record_keeps_the_event_api_field_order_and_leaves_out_what_is_not_sent() -> None:
    event = ItomEvent(
        severity="2",
        source="AWS",
        node="web-1",
        message_key="k",
        additional_info={"region": "eu-west-1"},
        source_time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    record = event.to_record()
    assert list(record) == ["severity", "source", "node", "message_key", "additional_info"]
    assert json.loads(record["additional_info"]) == {"region": "eu-west-1"}
    assert event._replace(node="web-2").to_record()["node"] == "web-2"
    assert event.to_record() == record  # a copy changed, the event did not


def test_a_problem_is_immutable_and_equal_by_value() -> None:
    problem = Problem("must be a string", "severity", 3)
    assert problem == Problem("must be a string", "severity", 3)
    assert problem != Problem("must be a string", "severity", 4)
    assert len({problem, Problem("must be a string", "severity", 3)}) == 1
    assert str(problem) == "records[3].severity: must be a string"
    assert "severity" in repr(problem)
    with pytest.raises(AttributeError):
        problem.index = 4
