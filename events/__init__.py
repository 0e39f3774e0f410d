"""The vocabulary: every fact Crossbook records is one of these events.

Only this package defines events. Each is a frozen msgspec Struct tagged with an explicit,
versioned string (`type`), carrying the common envelope from `events.base.Event`.
Money and time are integers: `qty_1e8`, `px_1e9`, `*_usd_1e9`, `*_ns`.
"""

from events.base import Event, Level
from events.catalog import ALL_EVENT_TYPES, AnyEvent
from events.codec import EventDecodeError, decode, decode_json, encode, encode_json
from events.ids import new_event_id

__all__ = [
    "ALL_EVENT_TYPES",
    "AnyEvent",
    "Event",
    "EventDecodeError",
    "Level",
    "decode",
    "decode_json",
    "encode",
    "encode_json",
    "new_event_id",
]
