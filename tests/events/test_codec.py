"""Every event type round-trips through both codecs; bad payloads fail loudly."""

from __future__ import annotations

import typing
from types import NoneType, UnionType

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import events
from events import ALL_EVENT_TYPES, EventDecodeError, decode, decode_json, encode, encode_json
from events.market import TradePrinted
from events.subjects import subject_for

I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def strategy_for(tp: object) -> st.SearchStrategy[object]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is int:
        return I64
    if tp is str:
        return st.text(max_size=20)
    if tp is bool:
        return st.booleans()
    if tp is bytes:
        return st.binary(max_size=20)
    if tp is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if tp is NoneType:
        return st.none()
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, UnionType):
        return st.one_of(*(strategy_for(a) for a in args))
    if origin is list:
        return st.lists(strategy_for(args[0]), max_size=4)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(strategy_for(args[0]), max_size=2).map(tuple)
    if origin is tuple:
        return st.tuples(*(strategy_for(a) for a in args))
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return struct_strategy(tp)
    raise TypeError(f"no strategy for {tp!r}")


def struct_strategy(cls: type[msgspec.Struct]) -> st.SearchStrategy[object]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: strategy_for(hints[f.name]) for f in msgspec.structs.fields(cls)}
    return st.builds(cls, **fields)


ANY_EVENT = st.one_of(*(struct_strategy(cls) for cls in ALL_EVENT_TYPES))


@settings(max_examples=400, deadline=None)
@given(ANY_EVENT)
def test_every_event_round_trips_msgpack_and_json(event: events.AnyEvent) -> None:
    assert decode(encode(event)) == event
    assert decode_json(encode_json(event)) == event
    assert subject_for(event).count(".") >= 1


def test_every_event_type_has_a_unique_versioned_tag() -> None:
    tags = [msgspec.inspect.type_info(cls).tag for cls in ALL_EVENT_TYPES]
    assert len(tags) == len(set(tags)) == len(ALL_EVENT_TYPES)
    assert all(t.endswith(".v1") for t in tags)


def _trade() -> TradePrinted:
    return TradePrinted(event_id="e1", ts_ns=1, venue="okx", symbol="BTC-USDT", px_1e9=1, qty_1e8=2, aggressor="buy")


def test_unknown_event_type_is_rejected_with_the_tag() -> None:
    raw = encode_json(_trade()).replace(b"md.trade.v1", b"md.trade.v9")
    with pytest.raises(EventDecodeError, match="md.trade.v9"):
        decode_json(raw)


def test_malformed_payloads_are_rejected() -> None:
    good = encode(_trade())
    with pytest.raises(EventDecodeError):
        decode(good[:-3])  # truncated
    with pytest.raises(EventDecodeError):
        decode(b"\xc1garbage")
    with pytest.raises(EventDecodeError, match="px_1e9"):
        decode_json(encode_json(_trade()).replace(b'"px_1e9":1', b'"px_1e9":"1.5"'))  # money as a string/float
    with pytest.raises(EventDecodeError, match="event_id"):
        decode_json(b'{"type":"md.trade.v1","ts_ns":1,"venue":"okx","symbol":"s","px_1e9":1,"qty_1e8":1,"aggressor":"buy"}')


def _structs_reachable(tp: object, seen: set[type]) -> None:
    """Collect every Struct type a field type can hold (nested Structs, lists, tuples, unions)."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if tp not in seen:
            seen.add(tp)
            for hint in typing.get_type_hints(tp).values():
                _structs_reachable(hint, seen)
        return
    for arg in typing.get_args(tp):
        _structs_reachable(arg, seen)


def _all_structs() -> set[type]:
    seen: set[type] = set()
    for cls in ALL_EVENT_TYPES:
        _structs_reachable(cls, seen)
    return seen


def test_money_walk_reaches_nested_structs() -> None:
    from events.graph import NodeSpec
    from events.routing import Allocation, ChildAllocated

    assert {Allocation, ChildAllocated, NodeSpec} <= _all_structs()


def test_money_fields_are_integers_everywhere() -> None:
    integer = {int, int | None}
    for cls in _all_structs():
        hints = typing.get_type_hints(cls)
        for name, tp in hints.items():
            if name.endswith(("_1e8", "_1e9", "_ns", "_ppm")):
                assert tp in integer, f"{cls.__name__}.{name} is {tp}, was expected to be an integer"
            elif name.endswith("_bps") and tp not in integer:
                # A float in basis points survives only as a copy for older readers, beside the
                # integer `*_ppm` field that carries the same figure and is the one read.
                twin = name.removesuffix("_bps") + "_ppm"
                assert hints.get(twin) in integer, f"{cls.__name__}.{name} is {tp} with no integer {twin} beside it"
            else:
                assert float not in (tp, *typing.get_args(tp)), f"{cls.__name__}.{name} is a float"


def test_every_event_field_is_keyword_only() -> None:
    # msgspec's kw_only applies only to the fields a class declares itself, not to subclasses.
    for cls in _all_structs():
        with pytest.raises(TypeError, match="positional"):
            cls("x")
