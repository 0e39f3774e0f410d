"""One codec for every event: msgpack on the bus, JSON for humans and the API."""

from __future__ import annotations

import msgspec

from events.catalog import AnyEvent
from events.errors import CrossbookError

_mp_encoder = msgspec.msgpack.Encoder()
_mp_decoder = msgspec.msgpack.Decoder(AnyEvent)
_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder(AnyEvent)


class EventDecodeError(CrossbookError):
    """A payload is not a valid event (malformed, unknown type, or wrong field types)."""


def encode(event: AnyEvent) -> bytes:
    return _mp_encoder.encode(event)


def decode(data: bytes) -> AnyEvent:
    try:
        return _mp_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise EventDecodeError(f"cannot decode event ({len(data)} bytes msgpack): {exc}") from exc


def encode_json(event: AnyEvent) -> bytes:
    return _json_encoder.encode(event)


def decode_json(data: bytes | str) -> AnyEvent:
    try:
        return _json_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise EventDecodeError(f"cannot decode event (JSON): {exc}") from exc
