"""Publish events to JetStream exactly once and read them back in order.

- `publish` sets `Nats-Msg-Id` = event id (a retried publish is stored once) and, for the
  single writer of an aggregate, `Nats-Expected-Last-Subject-Sequence` (a racing writer gets
  `ConcurrencyConflict`).
- `publish_many` pipelines async publishes (the fast path for market data).
- `durable_pull` creates/binds a durable pull consumer with explicit ack.
- `replay` reads a subject range from a stream sequence, in order, without a durable.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    ExternalStream,
    Placement,
    PubAck,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamSource,
    SubjectTransform,
)

from events import AnyEvent, decode, encode
from events.subjects import WRITER_HEADER, subject_for
from services.bus.acks import AckInbox, Refused, Unavailable
from services.bus.credentials import seed_path, tls_files
from services.bus.permissions import NotAuthorized, NotPermitted, inbox_prefix, parse_violation
from services.bus.writer import check_writer
from services.bus.streams import ConsumerDefaults, StreamDef, load_stream_defs, stream_for_subject
from services.errors import BrokenChain, BusError, ConcurrencyConflict
from services.settings import Settings

# One HPUB frame with a Nats-Msg-Id header: subject, reply prefix + token, header and total size.
_HPUB = b"HPUB %s %s%s %d %d\r\n%s%s\r\n"
_MSG_ID_HEADER = b"NATS/1.0\r\nNats-Msg-Id: %s\r\n\r\n"
_MSG_ID_WRITER_HEADER = b"NATS/1.0\r\nNats-Msg-Id: %s\r\n" + WRITER_HEADER.encode() + b": %s\r\n\r\n"
_BREAKS_FRAME = re.compile(r"[\s]")
WRONG_LAST_SEQUENCE = 10071  # JetStream API error code for a failed expected-last-subject-sequence
WRONG_LAST_MSG_ID = 10070  # ... and for a failed expected-last-msg-id
MSG_ID_IN_PROCESS = 10158  # a message with this Nats-Msg-Id is being stored right now (clusters)
EXPECTED_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
ACK_TIMEOUT_S = 10.0  # a publish whose ack has not come by then fails (the server is stalled or gone)
# While a cluster elects a new leader for a stream (a node was lost), JetStream answers "no
# responders" or nothing at all. Appends are idempotent (Nats-Msg-Id) and chained ones carry
# their expectations, so sending one again is safe: on replicated streams it is retried for this
# long (well inside the streams' dedup windows), then fails as before. One server has no
# leader to elect: there a request fails at once, as it always did.
FAILOVER_S = 20.0
FAILOVER_RETRY_S = 0.25  # no event says a leader was elected: ask again after this
CLUSTER_FORMING_S = 90.0  # `crossbook up --cluster`: every process starts with the nodes
TRANSIENT = (
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.errors.NoRespondersError,
    nats.errors.TimeoutError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
)
log = logging.getLogger("crossbook.bus")
T = TypeVar("T")


async def through_failover(
    attempt: Callable[[], Awaitable[T]], what: str, failover_s: float, also: tuple[type[Exception], ...] = ()
) -> T:
    """`attempt()`, sent again while it fails for want of a stream leader (only for requests
    that are safe to repeat: idempotent appends and reads)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + failover_s
    retried: tuple[type[Exception], ...] = (*TRANSIENT, Unavailable, *also)
    while True:
        try:
            return await attempt()
        except retried as exc:
            if loop.time() >= deadline:
                raise
            log.warning("%s: %r; retrying while the cluster fails over", what, exc)
        await asyncio.sleep(FAILOVER_RETRY_S)


@dataclass(frozen=True, slots=True)
class Pipelined:
    """Publishes sent and not yet all answered: one ack future per event, in order, and
    `answered`, resolved once every one of them is done."""

    futures: list[asyncio.Future[PubAck]]
    answered: asyncio.Future[None]


@dataclass(frozen=True, slots=True)
class Delivered:
    """An event read back from a stream with its stream sequence."""

    seq: int
    subject: str
    event: AnyEvent


class Denials:
    """The permission violations the server reported on one connection. The server answers a
    refused publish with an asynchronous `-ERR` and no reply, so a waiting publish would only
    time out: each one waiting on that subject fails at once with `NotPermitted` instead.
    (nats-py lowercases the error text, so subjects are matched without case.)"""

    def __init__(self, user: str) -> None:
        self.user = user  # "" = no credentials
        self.waiting: dict[str, list[tuple[str, asyncio.Future[None]]]] = {}  # lowercased subject ->
        self.acks: AckInbox | None = None  # its chained appends waiting on a subject fail too
        self.refused: asyncio.Future[None] = asyncio.get_running_loop().create_future()  # the connect
        self.last_error: Exception | None = None
        self.count = 0

    async def on_error(self, exc: Exception) -> None:
        self.last_error = exc
        # An AuthorizationError once connected; a plain Error with the server's text while connecting.
        if isinstance(exc, nats.errors.AuthorizationError) or "authorization violation" in str(exc).lower():
            if not self.refused.done():
                self.refused.set_result(None)
            log.error("NATS refused the credentials of %s", repr(self.user) if self.user else "a connection without any")
            return
        violation = parse_violation(str(exc))
        if violation is None:
            if isinstance(exc, nats.js.errors.APIError):  # e.g. a pipelined publish JetStream refused
                log.warning("NATS: JetStream refused a request (%s %s): %s", exc.code, exc.err_code, exc.description)
            else:
                log.warning("NATS: %r", exc)
            return
        operation, subject = violation
        self.count += 1
        log.error("%s", NotPermitted(operation, subject, self.user))
        for original, future in self.waiting.pop(subject.lower(), []):
            if not future.done():
                future.set_exception(NotPermitted(operation, original, self.user))
        if self.acks is not None:
            self.acks.fail(subject, lambda original: NotPermitted(operation, original, self.user))

    async def guard(self, subject: str, operation: asyncio.Future[T]) -> T:
        """`operation`'s result, or NotPermitted as soon as the server refuses `subject`."""
        return await self.guard_many((subject,), operation)

    async def guard_many(self, subjects: Iterable[str], operation: asyncio.Future[T]) -> T:
        """`operation`'s result, or NotPermitted as soon as the server refuses any of `subjects`."""
        denied: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entries = [(subject.lower(), (subject, denied)) for subject in set(subjects)]
        for key, entry in entries:
            self.waiting.setdefault(key, []).append(entry)
        racing: set[asyncio.Future[Any]] = {operation, denied}
        try:
            await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            operation.cancel()
            raise
        finally:
            for key, entry in entries:
                waiting = self.waiting.get(key)
                if waiting is not None and entry in waiting:
                    waiting.remove(entry)
                    if not waiting:
                        del self.waiting[key]
        if not operation.done():
            operation.cancel()
            denied.result()  # raises NotPermitted
        return operation.result()


def client_tls(settings: Settings) -> ssl.SSLContext:
    """Verify the servers against the data dir's CA (or CROSSBOOK_NATS_TLS_CA)."""
    return ssl.create_default_context(cafile=str(settings.nats_tls_ca or tls_files(settings.data_dir).ca))


class Bus:
    def __init__(self, nc: Client, settings: Settings, denials: Denials | None = None) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=ACK_TIMEOUT_S)
        self.settings = settings
        self.streams, self.consumer_defaults = load_stream_defs(settings)
        self.writer: str | None = None  # the declared role this handle appends as (`as_writer`)
        self.acks = AckInbox(nc)  # pipelined appends that hear refusals (shared by writer handles)
        self.denials = denials  # the server's refusals on this connection (`Bus.connect` sets it)
        self.failover_s = FAILOVER_S if settings.stream_replicas > 1 else 0.0
        if denials is not None:
            denials.acks = self.acks

    @classmethod
    async def connect(
        cls,
        settings: Settings,
        *,
        name: str = "crossbook",
        url: str | None = None,
        user: str | None = None,
        wait_s: float = 30.0,
    ) -> Bus:
        """Connect, retrying for `wait_s` while the server is still starting (local cluster).

        `user` names this process's NATS user (services/bus/permissions.py): its seed in the
        data dir signs the connection when there is one (`crossbook up` makes them). `url`
        (or CROSSBOOK_NATS_URL) may list several servers, comma-separated: a cluster's nodes,
        tried in turn and reconnected to when one is lost; `tls://` ones verify the local CA."""
        target = url or settings.effective_nats_url
        servers = [u.strip() for u in target.split(",") if u.strip()]
        options: dict[str, Any] = {"reconnect_time_wait": 0.5}
        denials = Denials("")
        if user is not None and settings.nats_auth:
            seed = seed_path(settings.data_dir, user, settings.region)
            if seed.exists():
                denials = Denials(user)
                options |= {"nkeys_seed": str(seed), "inbox_prefix": inbox_prefix(user)}
        if any(u.startswith("tls://") for u in servers):
            options["tls"] = client_tls(settings)
        nc = Client()
        # nats-py retries the first connect forever (max_reconnect_attempts=-1), also after the
        # server refused the credentials: wait for the connection, a refusal, or `wait_s`.
        connecting = asyncio.ensure_future(
            nc.connect(
                servers,
                name=name,
                connect_timeout=2,
                max_reconnect_attempts=-1,
                pending_size=256 * 1024 * 1024,
                error_cb=denials.on_error,
                **options,
            )
        )
        await asyncio.wait({connecting, denials.refused}, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
        if connecting.done() and connecting.exception() is None:
            return cls(nc, settings, denials)
        connecting.cancel()
        await nc.close()
        if denials.refused.done():
            who = f"user {user!r}" if denials.user else "a connection without credentials"
            raise NotAuthorized(f"NATS at {target} refused {who}: authorization violation")
        error = connecting.exception() if connecting.done() and not connecting.cancelled() else denials.last_error
        raise BusError(f"cannot reach NATS at {target} within {wait_s:g} s: {error!r}")

    async def close(self) -> None:
        # close, not drain: draining waits out every idle pull request (30 s each)
        if not self.nc.is_closed:
            await self.nc.flush()
            await self.nc.close()

    # --- streams --------------------------------------------------------------------------
    async def ensure_streams(self) -> None:
        """Create or update every stream in nats/streams.json (idempotent). On a cluster that
        is still forming (no JetStream meta leader, not every peer joined yet) this waits for
        it, up to CLUSTER_FORMING_S."""
        if self.failover_s:
            await through_failover(self._ensure_streams_once, "ensure streams", CLUSTER_FORMING_S,
                                   also=(nats.js.errors.ServerError,))
        else:
            await self._ensure_streams_once()

    async def _ensure_streams_once(self) -> None:
        for s in self.streams:
            config = _stream_config(s)
            try:
                info = await self._stream_call(f"$JS.API.STREAM.INFO.{s.name}", self.js.stream_info(s.name))
            except nats.js.errors.NotFoundError:
                # Created without its sources (another region's stream): sourcing one that does
                # not exist yet backs off for minutes; services/regions/link.py adds them.
                created = _stream_config(s, sources=False)
                await self._stream_call(f"$JS.API.STREAM.CREATE.{s.name}", self.js.add_stream(created))
                continue
            config = _stream_config(s, sources=bool(info.config.sources))
            if _differs(info.config, config):
                # Only the admin user may change a stream (a service's user is refused here).
                await self._stream_call(f"$JS.API.STREAM.UPDATE.{s.name}", self.js.update_stream(config))

    async def _stream_call(self, subject: str, call: Awaitable[T]) -> T:
        sent = asyncio.ensure_future(call)
        if self.denials is not None and self.denials.user:
            return await self.denials.guard(subject, sent)
        return await sent

    def stream_of(self, subject: str) -> StreamDef:
        return stream_for_subject(self.streams, subject)

    async def last_subject_seq(self, subject: str) -> int:
        """Return the stream sequence of the last message on `subject` (0 if none)."""
        stream = self.stream_of(subject).name
        try:
            msg = await through_failover(
                lambda: self.js.get_last_msg(stream, subject), f"last of {subject}", self.failover_s
            )
        except nats.js.errors.NotFoundError:
            return 0
        return msg.seq or 0

    # --- publish --------------------------------------------------------------------------
    def _headers(self, event: AnyEvent, subject: str) -> dict[str, str]:
        """Headers of one append: its id, and the role of a declared writer (services/bus/writer.py)."""
        if self.writer is None:
            return {"Nats-Msg-Id": event.event_id}
        return {"Nats-Msg-Id": event.event_id, WRITER_HEADER: check_writer(self.writer, subject)}

    async def publish(self, event: AnyEvent, *, expected_last_subject_seq: int | None = None) -> PubAck:
        subject = subject_for(event)
        headers = self._headers(event, subject)
        if expected_last_subject_seq is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(expected_last_subject_seq)
        data = encode(event)

        async def attempt() -> PubAck:
            if self.denials is not None and self.denials.user:
                sent = asyncio.ensure_future(self.js.publish(subject, data, headers=headers))
                return await self.denials.guard(subject, sent)
            return await self.js.publish(subject, data, headers=headers)

        try:
            return await through_failover(attempt, f"publish to {subject}", self.failover_s)
        except nats.js.errors.APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE and expected_last_subject_seq is not None:
                raise ConcurrencyConflict(subject, expected_last_subject_seq, exc.description or "") from exc
            raise BusError(f"publish to {subject} failed: {exc}") from exc
        except TRANSIENT as exc:
            raise Unavailable(f"publish to {subject} got no JetStream answer: {exc!r}") from exc

    async def publish_pipelined(self, events: Iterable[AnyEvent]) -> Pipelined:
        """Send publishes without waiting for their acks; one future per event, resolved by
        nats-py's JetStream ack handler (a PubAck, or the APIError JetStream answered), and one
        `answered` future for the whole batch (cheaper to wait on than thousands of futures).

        Same wire and bookkeeping as `js.publish_async` with a `Nats-Msg-Id` header, minus its
        per-call costs (header dict validated and re-encoded, a second token, subject checks):
        each HPUB frame is built in one formatting step. Never more than nats-py's in-flight
        limit is outstanding (its semaphore), and the connection's flusher sends the frames."""
        js, nc = self.js, self.nc
        if nc.is_closed:
            raise BusError("publish on a closed NATS connection")
        if not js._async_reply_prefix:
            await js._init_async_reply()
        assert js._async_reply_prefix is not None  # set by _init_async_reply
        reply_prefix = bytes(js._async_reply_prefix)
        pending, semaphore, completed = js._publish_async_futures, js._publish_async_pending_semaphore, \
            js._publish_async_completed_event
        max_payload = nc._max_payload
        loop = asyncio.get_running_loop()
        batch = Pipelined([], loop.create_future())
        unanswered = 1  # the sending itself, until it is over

        def answered() -> None:
            nonlocal unanswered
            unanswered -= 1
            if not unanswered and not batch.answered.done():
                batch.answered.set_result(None)

        def done(token: str, _: asyncio.Future[PubAck]) -> None:
            pending.pop(token, None)
            if not pending:
                completed.set()
            semaphore.release()
            answered()

        futures = batch.futures
        writer = self.writer
        # Each event with its subject and the role stamped on it (the one of a several-role handle
        # that owns the subject, as `_headers` stamps it); a foreign subject refuses the batch
        # before any of it is sent.
        outgoing = [
            (event, subject, None if writer is None else check_writer(writer, subject))
            for event in events
            for subject in (subject_for(event),)
        ]
        for event, subject, role in outgoing:
            payload = encode(event)
            if len(payload) > max_payload:
                raise BusError(f"{type(event).__name__} {event.event_id} is {len(payload)} bytes, over the server's "
                               f"max payload {max_payload}")
            msg_id = event.event_id
            if _BREAKS_FRAME.search(subject) or _BREAKS_FRAME.search(msg_id):  # what nats-py's checks would refuse
                raise BusError(f"cannot publish {type(event).__name__}: a blank or line break in {subject!r}/{msg_id!r}")
            await semaphore.acquire()
            token = nc._nuid.next().decode()
            future: asyncio.Future[PubAck] = loop.create_future()
            future.add_done_callback(functools.partial(done, token))
            pending[token] = future
            completed.clear()
            header = (
                _MSG_ID_HEADER % msg_id.encode()
                if role is None
                else _MSG_ID_WRITER_HEADER % (msg_id.encode(), role.encode())
            )
            await nc._send_command(_HPUB % (
                subject.encode(), reply_prefix, token.encode(), len(header), len(header) + len(payload),
                header, payload,
            ))
            if nc._flush_queue is not None and nc._flush_queue.empty():
                await nc._flush_pending()  # wakes the flusher (it writes whatever is pending then)
            futures.append(future)
            unanswered += 1
        nc.stats["out_msgs"] += len(futures)
        answered()
        return batch

    async def publish_many(self, events: Iterable[AnyEvent], *, timeout_s: float = ACK_TIMEOUT_S) -> list[PubAck]:
        """Pipeline many publishes and wait for every ack (ordering per subject is preserved);
        BusError when any ack has not come within `timeout_s`. While a stream has no leader the
        whole batch is sent again (what was stored already answers as a duplicate)."""
        batch = list(events)
        return await through_failover(
            lambda: self._publish_many_once(batch, timeout_s), "pipelined publish", self.failover_s
        )

    async def _publish_many_once(self, events: list[AnyEvent], timeout_s: float) -> list[PubAck]:
        batch = await self.publish_pipelined(events)
        futures = batch.futures
        # Wait for our own acks only: other tasks may share this connection's async window.
        # nats-py's ack futures have no deadline of their own: a stalled server would hang us.
        # A subject the server refuses gets an -ERR and no ack: fail at once rather than at the timeout.
        answered: Awaitable[None] = asyncio.shield(batch.answered)
        if self.denials is not None and self.denials.user:
            answered = self.denials.guard_many(map(subject_for, events), asyncio.ensure_future(answered))
        try:
            await asyncio.wait_for(answered, timeout_s)
        except TimeoutError:
            unanswered = [f for f in futures if not f.done()]
            if unanswered:
                for future in unanswered:
                    future.cancel()
                raise Unavailable(
                    f"{len(unanswered)} of {len(futures)} publishes got no JetStream answer in {timeout_s:g} s"
                )
        failed = [exc for f in futures if (exc := f.exception()) is not None]
        if failed:
            if all(isinstance(exc, TRANSIENT) for exc in failed):
                raise Unavailable(f"{len(failed)} of {len(futures)} publishes found no stream leader: {failed[0]!r}")
            raise BusError(f"{len(failed)} of {len(futures)} publishes failed, first: {failed[0]!r}")
        return [f.result() for f in futures]

    async def publish_chained(
        self, events: Sequence[AnyEvent], expected: Mapping[str, int], *, timeout_s: float = ACK_TIMEOUT_S
    ) -> list[PubAck | BusError]:
        """Pipeline `events` (one round trip for all) so that what is stored is a prefix of them:
        each event after the first names its predecessor as the stream's last message
        (`Nats-Expected-Last-Msg-Id`), and the first event of a subject in `expected` names that
        subject's last sequence (`Nats-Expected-Last-Subject-Sequence`). Each event's answer, in
        order: its ack; `ConcurrencyConflict` (its subject moved); `BrokenChain` (not stored: its
        predecessor was refused, or another publisher's message came between); `BusError`.

        On replicated streams (a cluster) the events go one by one instead, each under its
        subject's last sequence (the expected one, then our own acks'): nats-server checks
        `Nats-Expected-Last-Msg-Id` again when a replica applies the entry, and a pipelined one
        that passed the leader's check can fail there, which fails the stream on every replica
        ("critical write error: last msgid mismatch", seen with 2.15.1 under interleaving
        publishers). One by one, what is stored is still a prefix and every aggregate append is
        still checked; it costs a round trip per event. While the stream has no leader the rest
        is sent again (what was stored answers as a duplicate), for up to `failover_s`."""
        if self.settings.stream_replicas > 1:
            return await self._publish_one_by_one(events, expected, timeout_s)
        return await self._publish_chained_once(events, expected, timeout_s)

    async def _publish_one_by_one(
        self, events: Sequence[AnyEvent], expected: Mapping[str, int], timeout_s: float
    ) -> list[PubAck | BusError]:
        last = dict(expected)
        answers: list[PubAck | BusError] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.failover_s
        for event in events:
            subject = subject_for(event)
            headers = self._headers(event, subject)  # a foreign subject fails here, before any is sent
            if subject in last:
                headers[EXPECTED_SUBJECT_SEQ] = str(last[subject])
            while True:
                answer = await self._append_answer(subject, headers, encode(event), timeout_s)
                if not isinstance(answer, Unavailable) or loop.time() >= deadline:
                    break
                log.warning("append: %s; retrying while the cluster fails over", answer)
                await asyncio.sleep(FAILOVER_RETRY_S)
            answers.append(answer)
            if not isinstance(answer, PubAck):
                break
            last[subject] = answer.seq
        not_sent = BrokenChain("not stored: an append before it in the batch was not stored")
        return answers + [not_sent] * (len(events) - len(answers))

    async def _append_answer(
        self, subject: str, headers: dict[str, str], data: bytes, timeout_s: float
    ) -> PubAck | BusError:
        future = await self.acks.publish(subject, data, headers)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return Unavailable(f"publish to {subject} got no JetStream answer in {timeout_s:g} s")
        except Refused as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                return ConcurrencyConflict(subject, int(headers[EXPECTED_SUBJECT_SEQ]), exc.description)
            if exc.err_code == MSG_ID_IN_PROCESS:  # an earlier copy is being stored: ask again
                return Unavailable(f"publish to {subject}: {exc.description}")
            return exc
        except BusError as exc:
            return exc

    async def _publish_chained_once(
        self, events: Sequence[AnyEvent], expected: Mapping[str, int], timeout_s: float
    ) -> list[PubAck | BusError]:
        checked: set[str] = set()
        outgoing = []  # built whole first: a foreign subject refuses the batch before any is sent
        previous: AnyEvent | None = None
        for event in events:
            subject = subject_for(event)
            headers = self._headers(event, subject)
            if subject in expected and subject not in checked:
                checked.add(subject)
                headers[EXPECTED_SUBJECT_SEQ] = str(expected[subject])
            if previous is not None:
                headers[EXPECTED_LAST_MSG_ID] = previous.event_id
            outgoing.append((subject, headers, encode(event)))
            previous = event
        futures = [await self.acks.publish(subject, data, headers) for subject, headers, data in outgoing]
        write_through(self.nc)
        if futures:
            await asyncio.wait(futures, timeout=timeout_s)
        answers: list[PubAck | BusError] = []
        for (subject, headers, _), future in zip(outgoing, futures):
            if not future.done():
                future.cancel()
                answers.append(Unavailable(f"publish to {subject} got no JetStream answer in {timeout_s:g} s"))
            elif (exc := future.exception()) is None:
                answers.append(future.result())
            elif isinstance(exc, Refused) and exc.err_code == WRONG_LAST_SEQUENCE:
                answers.append(ConcurrencyConflict(subject, int(headers[EXPECTED_SUBJECT_SEQ]), exc.description))
            elif isinstance(exc, Refused) and exc.err_code == WRONG_LAST_MSG_ID:
                answers.append(BrokenChain(f"{subject}: not stored after a batch's refused or interleaved append"))
            else:
                answers.append(exc if isinstance(exc, BusError) else BusError(f"publish to {subject} failed: {exc!r}"))
        return answers

    # --- consume --------------------------------------------------------------------------
    async def durable_pull(
        self,
        stream: str,
        durable: str,
        *,
        filter_subjects: list[str] | None = None,
        start_seq: int | None = None,
        ack_wait_s: float | None = None,
        max_ack_pending: int | None = None,
    ) -> JetStreamContext.PullSubscription:
        """Bind (or create) a durable pull consumer with explicit ack.

        A new consumer starts at `start_seq` (default: the beginning of the stream)."""
        d: ConsumerDefaults = self.consumer_defaults
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait_s if ack_wait_s is not None else d.ack_wait_s,
            max_ack_pending=max_ack_pending or d.max_ack_pending,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if start_seq else DeliverPolicy.ALL,
            opt_start_seq=start_seq or None,
        )
        if filter_subjects:
            if len(filter_subjects) == 1:
                config.filter_subject = filter_subjects[0]
            else:
                config.filter_subjects = filter_subjects
        try:
            await self.js.consumer_info(stream, durable)
        except nats.js.errors.NotFoundError:
            await self.js.add_consumer(stream, config)
        return await self.js.pull_subscribe_bind(durable, stream=stream)

    async def delete_consumer(self, stream: str, durable: str) -> None:
        try:
            await self.js.delete_consumer(stream, durable)
        except nats.js.errors.NotFoundError:
            pass

    async def replay(
        self,
        stream: str,
        subjects: str | list[str] = ">",
        *,
        start_seq: int = 1,
        end_seq: int | None = None,
        batch: int = 512,
    ) -> AsyncIterator[Delivered]:
        """Yield events of `subjects` from `start_seq` to `end_seq` (default: the stream's
        last sequence when the replay starts), in stream order."""
        info = await self.js.stream_info(stream)
        last = info.state.last_seq if end_seq is None else min(end_seq, info.state.last_seq)
        if last < start_seq or info.state.messages == 0:
            return
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=max(start_seq, info.state.first_seq),
            inactive_threshold=30.0,
            mem_storage=True,
        )
        filters = [subjects] if isinstance(subjects, str) else subjects
        sub = await self.js.pull_subscribe(filters[0], stream=stream, config=filtered(config, filters))
        try:
            remaining = (await sub.consumer_info()).num_pending or 0  # matching messages from start_seq
            while remaining > 0:
                try:
                    msgs = await sub.fetch(min(batch, remaining), timeout=5.0)
                except TimeoutError:  # nats-py raises both its own and asyncio's
                    return
                for msg in msgs:
                    seq = msg.metadata.sequence.stream
                    if seq > last:
                        return
                    remaining -= 1
                    yield Delivered(seq, msg.subject, decode(msg.data))
                    if seq == last:
                        return
        finally:
            await sub.unsubscribe()


def write_through(nc: Client) -> None:
    """Hand what nats-py has queued to the socket now, in order, instead of on its flusher's next
    turn of the event loop: on the order path, whatever else is ready on the loop (market data,
    other folds) would otherwise run before the append leaves. The flusher then finds nothing
    queued. While not connected, the queue waits for the reconnect as before."""
    if nc._pending_data_size and nc.is_connected and nc._transport is not None:
        nc._transport.writelines(nc._pending[:])
        nc._pending = []
        nc._pending_data_size = 0
def _differs(have: StreamConfig, want: StreamConfig) -> bool:
    """Whether a stream's stored configuration differs from `want` in what streams.json sets."""
    return (
        sorted(have.subjects or []) != sorted(want.subjects or [])
        or have.storage != want.storage
        or int(have.max_age or 0) != int(want.max_age or 0)
        or (have.max_bytes or -1) != (want.max_bytes or -1)
        or int(have.duplicate_window or 0) != int(want.duplicate_window or 0)
        or (have.num_replicas or 1) != (want.num_replicas or 1)
    )


def _stream_config(s: StreamDef, *, sources: bool = True) -> StreamConfig:
    return StreamConfig(
        num_replicas=s.replicas,
        name=s.name,
        subjects=list(s.subjects),
        storage=StorageType.FILE if s.storage == "file" else StorageType.MEMORY,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        max_age=float(s.max_age_s),
        max_bytes=s.max_bytes,
        duplicate_window=float(s.duplicate_window_s),
        placement=Placement(tags=list(s.placement_tags)) if s.placement_tags else None,
        sources=[
            StreamSource(
                name=src.name,
                external=ExternalStream(api=src.api, deliver=src.deliver),
                subject_transforms=[SubjectTransform(src=x, dest=x) for x in src.subjects],
            )
            for src in (s.sources if sources else ())
        ] or None,
    )


def filtered(config: ConsumerConfig, subjects: list[str]) -> ConsumerConfig:
    """`config` reading only `subjects` (one filter, or several: a server feature since 2.10)."""
    if len(subjects) == 1:
        config.filter_subject = subjects[0]
    else:
        config.filter_subjects = subjects
    return config


def message_seq(msg: Msg) -> int:
    return msg.metadata.sequence.stream


async def fetch_batch(sub: JetStreamContext.PullSubscription, batch: int, wait_s: float) -> list[Msg]:
    """Return up to `batch` messages as soon as any are there; wait up to `wait_s` for one.

    nats-py's `fetch(n)` returns at once when messages are waiting, but when none are it
    lingers until all n arrive or the timeout passes: a half-second batch delay on a quiet
    stream. So drain with a short fetch, and wait for the next message with `fetch(1)`.
    Raises `TimeoutError` when nothing arrived."""
    try:
        return await sub.fetch(batch, timeout=0.002)
    except TimeoutError:  # nats-py raises both its own and asyncio's
        return await sub.fetch(1, timeout=wait_s)
