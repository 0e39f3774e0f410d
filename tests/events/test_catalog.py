"""The spelled-out `AnyEvent` union and the per-module event tuples name the same types."""

from __future__ import annotations

from typing import get_args

from events.base import Event
from events.catalog import ALL_EVENT_TYPES, AnyEvent


def _subclasses(cls: type) -> set[type]:
    direct = set(cls.__subclasses__())
    return direct.union(*(_subclasses(c) for c in direct))


def test_the_union_and_the_tuples_hold_the_same_event_types() -> None:
    members = get_args(AnyEvent)
    assert len(members) == len(set(members))
    assert set(members) == set(ALL_EVENT_TYPES)


def test_every_event_class_in_the_vocabulary_is_in_the_union() -> None:
    defined = {c for c in _subclasses(Event) if c.__module__.startswith("events.")}
    missing = sorted(c.__name__ for c in defined - set(get_args(AnyEvent)))
    assert not missing, f"add to events/catalog.py AnyEvent and its module's *_EVENTS tuple: {missing}"
