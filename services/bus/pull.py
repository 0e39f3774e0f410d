"""A pull consumer that hands over each message the moment it is stored.

nats-py's `fetch(n, timeout)` returns only when n messages have come or the timeout has
passed, so a follower that drains with it adds up to that timeout to every hop of the order
path. Here one lingering pull request (batch n, expires t) stays open at the server, which
pushes each matching message as it lands; `next_batch` returns as soon as one has arrived,
together with whatever else is already queued locally. A new request is issued only when the
previous one has ended (batch delivered, or the server's 408 at expiry). Each request has its
own reply subject: when an answer is lost to a client-side timeout and a new request goes out,
the old one's late status is recognised and ignored instead of ending the new one early.
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


class ConsumerGone(Exception):
    """The server ended the pull with an error status (consumer deleted, leader changed…)."""


class PullFeed:
    def __init__(self, nc: Client, stream: str, consumer: str, *, batch: int) -> None:
        self._nc = nc
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._batch = batch
        self._inbox = nc.new_inbox()
        self._sub: Subscription | None = None
        self._owed = 0  # messages the outstanding request may still deliver; 0 = none open
        self._requests = 0
        self._current = ""  # reply subject of the outstanding request

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

    async def next_batch(self, wait_s: float) -> list[Msg]:
        """Messages as soon as at least one is there. Raises `TimeoutError` when a whole
        request expired with none (the consumer is idle) and `ConsumerGone` on an error status."""
        assert self._sub is not None, "open() first"
        if self._owed == 0:
            request = {"batch": self._batch, "expires": int(wait_s * 1e9)}
            self._requests += 1
            self._current = f"{self._inbox}.{self._requests}"
            await self._nc.publish(self._next_subject, json.dumps(request).encode(), reply=self._current)
            self._owed = self._batch
        out: list[Msg] = []
        while True:
            try:
                # The server answers by `wait_s` at the latest; the margin covers a lost answer.
                msg = await self._sub.next_msg(timeout=None if out else wait_s + 2.0)
            except (asyncio.TimeoutError, nats.errors.TimeoutError):
                self._owed = 0  # the request is lost (reconnect?): issue a new one next time
                raise TimeoutError from None
            status = JetStreamContext.is_status_msg(msg)
            # Statuses come on the request's reply subject (data keeps its stream subject): one
            # for a request we gave up on says nothing about the current one.
            stale = bool(status) and msg.subject != self._current
            if status == HEARTBEAT or stale:
                if out and self._sub.pending_msgs == 0:
                    return out  # nothing more is queued: do not wait on with messages in hand
                continue
            if status in END_OF_REQUEST:
                self._owed = 0
                if out:
                    return out
                raise TimeoutError
            if status:
                self._owed = 0
                raise ConsumerGone(f"pull ended with status {status}: {msg.headers}")
            out.append(msg)
            self._owed -= 1
            if self._owed == 0 or self._sub.pending_msgs == 0:
                return out
