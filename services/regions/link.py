"""Link a region's streams to the other regions' (the admin's step on the supercluster).

A stream is created without its sources (`Bus.ensure_streams`): the server sets a source up
once and, when the stream it sources does not exist yet, retries with a back-off that grows to
minutes, so a region started before its peers would see their books minutes late. Here the
region's admin waits until each source stream exists (asked through the peer's exported
`STREAM.INFO`), then adds the sources in one update.
"""

from __future__ import annotations

import asyncio

import nats.errors
import nats.js.errors

from services.bus import Bus
from services.bus.bus import _stream_config

POLL_S = 0.5  # asking a peer region whether its stream exists yet: nothing to subscribe to


async def link_sources(admin: Bus, timeout_s: float = 120.0) -> list[str]:
    """Add every stream's sources once they all exist; the names of the streams updated."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    updated = []
    for s in admin.streams:
        if not s.sources:
            continue
        for src in s.sources:
            peer = admin.nc.jetstream(prefix=src.api, timeout=2.0)
            while True:
                try:
                    await peer.stream_info(src.name)
                    break
                except (nats.js.errors.NotFoundError, nats.js.errors.ServiceUnavailableError,
                        nats.errors.TimeoutError, nats.errors.NoRespondersError):
                    if loop.time() > deadline:
                        raise
                    await asyncio.sleep(POLL_S)
        info = await admin.js.stream_info(s.name)
        if len(info.config.sources or []) != len(s.sources):
            await admin.js.update_stream(_stream_config(s))
            updated.append(s.name)
    return updated
