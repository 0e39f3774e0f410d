"""The bus: JetStream streams, idempotent publish, optimistic concurrency, consumers, replay."""

from services.bus.bus import Bus, Delivered
from services.bus.streams import StreamDef, load_stream_defs

__all__ = ["Bus", "Delivered", "StreamDef", "load_stream_defs"]
