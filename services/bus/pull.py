"""A pull consumer that hands over each message the moment it is stored, and tells a lost read
from an idle one.

nats-py's `fetch(n, timeout)` returns only when n messages have come or the timeout has
passed, so a follower that drains with it adds up to that timeout to every hop of the order
path. Here one lingering pull request (batch n, expires t) stays open at the server, which
pushes each matching message as it lands; `next_batch` returns as soon as one has arrived,
together with whatever else is already queued locally. A new request is issued only when the
previous one has ended (batch delivered, or the server's 408 at expiry).

Each request asks for the server's idle heartbeats. A heartbeat names the consumer sequence
of the last message the consumer sent and the stream sequence it has looked through: when the
first equals the last one received here, every matching message up to the second has been
handed over, which is how a filtered reader learns it is current without asking for the
stream's end (a consumer on a lagging replica only vouches for what it has itself read). A
consumer sequence that jumps, or a heartbeat naming messages that never came, is a gap:
`ConsumerGone`. No message and no heartbeat for `STALL_BEATS` heartbeats means the request
or its consumer died (a cluster node lost, a server restart): `ConsumerStalled`. Either way
the caller recreates the consumer from what it has read.
"""

from __future__ import annotations

import asyncio
import json

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.client import JetStreamContext

HEARTBEAT = "100"
END_OF_REQUEST = {"404", "408"}  # no messages / request expired: the request is over
HEARTBEAT_S = 0.5  # idle heartbeat asked of the server: also how soon an idle reader learns it is current
EXPIRES_S = 5.0  # a pull request's life; the next one goes out when it ends
STALL_BEATS = 6  # heartbeats missed in a row before the read counts as lost (a loaded loop is slow, not dead)


class ConsumerGone(Exception):
    """The server ended the pull with an error status (consumer deleted, leader changed…), or the
    consumer's sequences show a message that never arrived."""


class ConsumerStalled(ConsumerGone):
    """Neither a message nor a heartbeat within `STALL_BEATS` heartbeats: the request is lost."""


class PullFeed:
    def __init__(
        self,
        nc: Client,
        stream: str,
        consumer: str,
        *,
        batch: int,
        heartbeat_s: float = HEARTBEAT_S,
        expires_s: float = EXPIRES_S,
    ) -> None:
        assert 2 * heartbeat_s <= expires_s, "the server refuses heartbeats over half the expiry"
        self._nc = nc
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._batch = batch
        self._heartbeat_s = heartbeat_s
        self._expires_s = expires_s
        self._inbox = nc.new_inbox()
        self._sub: Subscription | None = None
        self._owed = 0  # messages the outstanding request may still deliver; 0 = none open
        self._requests = 0
        self._current = ""  # reply subject of the outstanding request
        self.delivered = 0  # consumer sequence of the last message handed out
        self.scanned = 0  # stream sequence through which every matching message was handed out

    @property
    def stall_s(self) -> float:
        return STALL_BEATS * self._heartbeat_s

    async def open(self) -> PullFeed:
        self._sub = await self._nc.subscribe(f"{self._inbox}.*")
        return self

    async def close(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except nats.errors.Error:
                pass  # the connection is going away anyway
            self._sub = None

    async def next_batch(self) -> list[Msg]:
        """Messages as soon as at least one is there; [] after an idle heartbeat or the end of
        a request with none (`scanned` may have moved). Raises `ConsumerGone` on an error status
        or a gap, `ConsumerStalled` when the read went silent."""
        assert self._sub is not None, "open() first"
        if self._owed == 0:
            request = {
                "batch": self._batch,
                "expires": int(self._expires_s * 1e9),
                "idle_heartbeat": int(self._heartbeat_s * 1e9),
            }
            self._requests += 1
            self._current = f"{self._inbox}.{self._requests}"
            await self._nc.publish(self._next_subject, json.dumps(request).encode(), reply=self._current)
            self._owed = self._batch
        out: list[Msg] = []
        while True:
            try:
                msg = await self._sub.next_msg(timeout=None if out else self.stall_s)
            except (asyncio.TimeoutError, nats.errors.TimeoutError):
                raise ConsumerStalled(f"nothing from {self._next_subject} in {self.stall_s:g} s") from None
            status = JetStreamContext.is_status_msg(msg)
            if status == HEARTBEAT:
                self._heard(msg)
                if out and self._sub.pending_msgs:
                    continue
                return out
            if status and msg.subject != self._current:
                # Statuses of a request come on its own reply subject (data keeps its stream
                # subject): one for a request already over says nothing about the current one.
                continue
            if status in END_OF_REQUEST:
                self._owed = 0
                return out
            if status:
                self._owed = 0
                raise ConsumerGone(f"pull ended with status {status}: {msg.headers}")
            sequence = msg.metadata.sequence
            if sequence.consumer != self.delivered + 1:
                raise ConsumerGone(f"consumer sequence {sequence.consumer} after {self.delivered}: a gap")
            self.delivered = sequence.consumer
            self.scanned = max(self.scanned, sequence.stream)
            out.append(msg)
            self._owed -= 1
            if self._owed == 0 or self._sub.pending_msgs == 0:
                return out

    def _heard(self, msg: Msg) -> None:
        headers = msg.headers or {}
        try:
            last_consumer = int(headers["Nats-Last-Consumer"])
            last_stream = int(headers["Nats-Last-Stream"])
        except (KeyError, ValueError):
            return  # a heartbeat that vouches for nothing: still a sign of life
        if last_consumer != self.delivered:
            raise ConsumerGone(f"heartbeat names consumer sequence {last_consumer}, {self.delivered} came: a gap")
        self.scanned = max(self.scanned, last_stream)
