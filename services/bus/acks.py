"""Pipelined JetStream publishes whose every answer arrives, refusals included.

nats-py's `publish_async` raises a refused publish's error inside its reply callback
(`APIError.from_error` raises) instead of failing the publish's future, which then never
completes; a single writer must learn of a refusal at once. So the pipelined appends of
`Bus.publish_chained` use their own reply inbox: one subscription per connection, one future
per publish, each resolved with the PubAck or failed with `Refused` (JetStream's error code)."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import PubAck

from services.errors import BusError

NO_RESPONDERS = "503"  # the status header of a publish no stream listens to


class Refused(BusError):
    """JetStream answered a publish with an error (e.g. a failed expectation)."""

    def __init__(self, subject: str, err_code: int, description: str) -> None:
        super().__init__(f"publish to {subject} refused ({err_code}): {description}")
        self.subject = subject
        self.err_code = err_code
        self.description = description


class Unavailable(BusError):
    """JetStream did not answer an append (no stream leader, or no answer in time): sending the
    same append again is safe (Nats-Msg-Id)."""


class AckInbox:
    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self._prefix: str | None = None
        self._opening: asyncio.Task[str] | None = None
        self._tokens = itertools.count()
        self._waiting: dict[str, tuple[str, asyncio.Future[PubAck]]] = {}

    async def _inbox(self) -> str:
        if self._prefix is None:
            if self._opening is None:  # one subscription, however many publish at once
                self._opening = asyncio.create_task(self._subscribe())
            self._prefix = await asyncio.shield(self._opening)
        return self._prefix

    async def _subscribe(self) -> str:
        prefix = self.nc.new_inbox()
        await self.nc.subscribe(f"{prefix}.*", cb=self._answer)
        return prefix

    async def publish(self, subject: str, data: bytes, headers: dict[str, str]) -> asyncio.Future[PubAck]:
        """Send one publish (in call order on the connection); the future of its answer."""
        prefix = await self._inbox()
        token = str(next(self._tokens))
        future: asyncio.Future[PubAck] = asyncio.get_running_loop().create_future()
        self._waiting[token] = (subject, future)
        future.add_done_callback(lambda _: self._waiting.pop(token, None))  # answered or given up
        await self.nc.publish(subject, data, reply=f"{prefix}.{token}", headers=headers)
        return future

    def fail(self, subject: str, error: Callable[[str], BusError]) -> None:
        """Fail every publish to `subject` (any case) still waiting with `error(its subject)`:
        the server refused it, so no answer comes."""
        key = subject.lower()
        for waiting_subject, future in list(self._waiting.values()):
            if waiting_subject.lower() == key and not future.done():
                future.set_exception(error(waiting_subject))

    async def _answer(self, msg: Msg) -> None:
        waiting = self._waiting.get(msg.subject.rsplit(".", 1)[-1])
        if waiting is None or waiting[1].done():
            return
        subject, future = waiting
        if msg.headers and msg.headers.get("Status") == NO_RESPONDERS:
            # No stream leader listens (a cluster electing one), or no stream takes the subject.
            future.set_exception(Unavailable(f"publish to {subject}: no stream takes it (no responders)"))
            return
        try:
            answer = json.loads(msg.data)
        except ValueError:
            future.set_exception(BusError(f"publish to {subject}: unreadable answer {msg.data[:200]!r}"))
            return
        error = answer.get("error")
        if error:
            future.set_exception(Refused(subject, int(error.get("err_code", 0)), str(error.get("description", ""))))
        else:
            future.set_result(PubAck.from_response(answer))
