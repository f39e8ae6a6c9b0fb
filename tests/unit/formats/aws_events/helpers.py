"""What the tests of the AWS service event formats share: mapping one event (direct or
through SNS) to its records, the one record of a format and its additional_info, and the two
checks every format runs the same way (every value of a sample taking every wrong type; the
values a format offers field templates)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType

import pytest

from itom_forwarder.formats import MappingOptions, Notification, to_events
from itom_forwarder.formats.aws_events.common import Signal
from itom_forwarder.itom_event import ItomEvent
from tests.unit.formats.test_generated_inputs import WRONG_TYPES, _message, _paths, _replaced, map_everything


@dataclass(frozen=True)
class Mapper:
    """Maps the events of one format: `name` is the format's name (what to_events answers),
    `topic` the SNS topic of the notifications mapped with sns=True."""

    name: str
    topic: str

    def mapped(
        self, event: object, options: MappingOptions | None = None, *, sns: bool = False
    ) -> tuple[str, list[dict[str, str]]]:
        """The format's name and the records of `event`, sent directly or through SNS."""
        notification = (
            Notification(message=json.dumps(event), message_id="sns-1", topic_arn=self.topic)
            if sns
            else Notification(message=json.dumps(event), origin="direct")
        )
        name, events = to_events(notification, options or MappingOptions())
        return name, [item.to_record() for item in events]

    def record(self, event: object, options: MappingOptions | None = None, *, sns: bool = False) -> dict[str, str]:
        """The one record of `event`, which must be of this format."""
        name, [only] = self.mapped(event, options, sns=sns)
        assert name == self.name
        return only

    def map_everywhere(self, payload: object) -> None:
        """`payload` (any JSON value) through SNS, mapped (or refused by name) the way every
        entry point would map it."""
        map_everything(Notification(message=_message(payload), message_id="m-1", topic_arn=self.topic), api=False)


def info(item: dict[str, str]) -> dict[str, str]:
    """A record's additional_info, decoded."""
    decoded: dict[str, str] = json.loads(item["additional_info"])
    return decoded


def map_with_every_wrong_type(*payloads: object, check: Callable[[object], None] | None = None) -> None:
    """Each value of each payload replaced by each wrong type, mapped (or refused by name) the
    way every entry point would map it; `check` is then called with each mutated payload."""
    for payload in payloads:
        for path in list(_paths(payload)):
            for wrong in WRONG_TYPES:
                mutated = _replaced(copy.deepcopy(payload), path, wrong)
                map_everything(Notification(message=_message(mutated), origin="direct"), api=False)
                if check is not None:
                    check(mutated)


def template_values(monkeypatch: pytest.MonkeyPatch, module: ModuleType, mapper: Mapper, event: object) -> set[str]:
    """The names of the values that `module` (a format) offers field templates when `event` is
    mapped: what its to_event is given."""
    captured: dict[str, object] = {}
    original = module.to_event

    def spy(signal: Signal, options: MappingOptions, context: Mapping[str, object]) -> ItomEvent:
        captured.update(signal.values)
        result: ItomEvent = original(signal, options, context)
        return result

    monkeypatch.setattr(module, "to_event", spy)
    mapper.record(event)
    return set(captured)
