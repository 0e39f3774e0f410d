"""The API as a front door: append one command, answer once the kernel's facts reach the API's
ledger view (so the caller's next read sees them), or say why it could not.

A command is idempotent by its id (`Nats-Msg-Id`): a retried request derives the same id and
JetStream stores it once. Once acked, a command is on the log: the kernel runs it exactly once,
even if it is down now (it reads the command when it starts). So a kernel that does not answer
in time gets a 504 that says the command is recorded, never a second command."""

from __future__ import annotations

from collections.abc import Callable

from events import AnyEvent
from services.api.errors import ApiError
from services.api.state import ApiState
from services.bus import Bus
from services.bus.writer import as_writer
from services.edges.sandbox.accounts import SandboxCommand, expected_facts
from services.errors import BusError

KERNEL_WAIT_S = 10.0  # how long a front door waits for the kernel to apply its command
COMMAND_ACK_S = 10.0  # how long it waits for JetStream to store the command (the bus's publish timeout)


def front_door(state: ApiState) -> Bus:
    """The API's connection appending as the `front_door` writer (stamped on each message)."""
    return as_writer(state.bus, "front_door")


async def append_command(state: ApiState, command: AnyEvent) -> int:
    """Append `command` on its command subject; its LEDGER sequence. 503 when JetStream did not ack.
    Sent as a one-event chain: the same headers as a publish, on the order path's fast lane (the
    connection's one ack inbox, written through to the socket at once)."""
    try:
        (answer,) = await front_door(state).publish_chained([command], {}, timeout_s=COMMAND_ACK_S)
    except BusError as exc:  # refused before sending (e.g. not this writer's subject)
        answer = exc
    if isinstance(answer, BusError):
        raise ApiError(503, f"the request could not be recorded (retry it): {answer}", code="SERVICE_UNAVAILABLE")
    return answer.seq


async def await_kernel(state: ApiState, done: Callable[[], bool], what: str) -> None:
    """Wait until `done()` holds on the API's ledger view; 504 when the kernel has not answered."""
    try:
        await state.ledger_follower.wait_until(done, timeout=KERNEL_WAIT_S)
    except TimeoutError as exc:
        raise ApiError(
            504,
            f"{what} is recorded, but the trading kernel has not applied it within {KERNEL_WAIT_S:g} s; "
            "it runs once the kernel is back: read the status before sending anything new",
            code="KERNEL_TIMEOUT",
        ) from exc


async def apply_sandbox_command(state: ApiState, command: SandboxCommand, what: str) -> int:
    """Append a sandbox command and wait until the executor's facts for it are in the API's ledger
    view; the ledger position then (at or past its last fact), for the views to catch up to."""
    await append_command(state, command)
    wanted = expected_facts(command)
    await await_kernel(state, lambda: state.ledger.applied.get(command.event_id, 0) >= wanted, what)
    return state.ledger_follower.position
