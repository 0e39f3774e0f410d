"""The sandbox book's commands (events/commands.py SANDBOX_COMMANDS) turned into the facts the
executor appends: paper funding, settings, a set balance, a reset, redemptions. Pure: time
comes in as an argument and ids derive from the command, so the live executor
(services/edges/sandbox/service.py) and the synchronous kernel (services/kernel/kernel.py) make
the same facts, and re-running a command after a crash makes the same ids (stored once).

Every fact names its command as `causation_id`: the front door waits for that many facts, and
an executor replaying the log knows which commands ran (a fact follows its command)."""

from __future__ import annotations

import logging

from events import AnyEvent, commands
from events.execution import BalanceAdjusted, PositionRedeemed
from events.ids import derive_id
from events.sandbox import SandboxReset, SandboxSettingsChanged

log = logging.getLogger("crossbook.sandbox")

SandboxCommand = (
    commands.FundSandbox | commands.ChangeSandboxSettings | commands.SetSandboxBalance | commands.ResetSandbox
    | commands.RedeemPositions
)


def command_id(kind: str, tenant: str, *parts: str) -> str:
    """A front door's id for a sandbox command: derived from what makes the request itself, so
    two identical requests (a retry, a double click) are one command (`Nats-Msg-Id`)."""
    return derive_id("sandbox_command", kind, tenant, *parts)


def expected_facts(command: SandboxCommand) -> int:
    """How many facts applying `command` appends (0 when it is moot: a funded tenant's funding)."""
    match command:
        case commands.FundSandbox():
            return len([g for g in command.grants if g.delta_qty_1e8 > 0])
        case commands.ResetSandbox():
            return len(command.adjusted) + 1
        case commands.RedeemPositions():
            return len(command.redemptions)
        case commands.SetSandboxBalance():
            return 1 if command.delta_qty_1e8 else 0
    return 1


class SandboxAccounts:
    """What the executor must know to apply a sandbox command: which tenants are funded."""

    def __init__(self) -> None:
        self.funded: set[str] = set()  # one entry per tenant that ever traded in the sandbox
        self.unrun: dict[str, SandboxCommand] = {}  # read while replaying and not yet answered, in log order

    def fold(self, event: AnyEvent) -> None:
        if isinstance(event, BalanceAdjusted) and event.reason == "paper_funding":
            self.funded.add(event.tenant)

    def read(self, event: AnyEvent, caught_up: bool, now_ns: int) -> list[AnyEvent]:
        """Fold one ledger event as a live follower reads it; the facts to append now. A command
        read while replaying waits (`run_unrun` once caught up) and is dropped when a fact naming
        it follows on the log: it ran before the restart, and re-running it past the dedup window
        would store its facts twice."""
        if event.causation_id is not None and self.unrun:
            self.unrun.pop(event.causation_id, None)
        if isinstance(event, commands.SANDBOX_COMMANDS):
            self.unrun[event.event_id] = event
            return self.run_unrun(now_ns) if caught_up else []
        self.fold(event)
        return []

    def run_unrun(self, now_ns: int) -> list[AnyEvent]:
        pending, self.unrun = self.unrun, {}
        return [fact for command in pending.values() for fact in self.apply(command, now_ns)]

    def apply(self, command: SandboxCommand, now_ns: int) -> list[AnyEvent]:
        """The facts `command` causes, in the order to append them; [] when it is moot."""
        tenant, cause = command.tenant, command.event_id

        def fact_id(*parts: str) -> str:
            return derive_id("sandbox_fact", cause, *parts)

        def adjustment(event_id: str, venue: str, asset: str, delta: int, reason: str) -> BalanceAdjusted:
            return BalanceAdjusted(event_id=event_id, ts_ns=now_ns, tenant=tenant, causation_id=cause, venue=venue,
                                   asset=asset, delta_qty_1e8=delta, reason=reason, is_sandbox=True)

        match command:
            case commands.FundSandbox():
                if tenant in self.funded:
                    return []  # a second funding (a retry past the dedup window) grants nothing
                self.funded.add(tenant)
                # Ids from the tenant alone, as before commands: funding twice is stored once.
                return [
                    adjustment(derive_id("paper_funding", tenant, g.venue, g.asset), g.venue, g.asset, g.delta_qty_1e8,
                               "paper_funding")
                    for g in command.grants if g.delta_qty_1e8 > 0
                ]
            case commands.ChangeSandboxSettings():
                return [SandboxSettingsChanged(event_id=fact_id(), ts_ns=now_ns, tenant=tenant, causation_id=cause,
                                               balances=list(command.balances))]
            case commands.SetSandboxBalance():
                if not command.delta_qty_1e8:
                    return []
                return [adjustment(fact_id(), command.venue, command.asset, command.delta_qty_1e8,
                                   "sandbox_set_position")]
            case commands.ResetSandbox():
                facts: list[AnyEvent] = [
                    adjustment(fact_id(d.venue, d.asset), d.venue, d.asset, d.delta_qty_1e8, "sandbox_reset")
                    for d in command.adjusted
                ]
                facts.append(SandboxReset(
                    event_id=fact_id("reset"), ts_ns=now_ns, tenant=tenant, causation_id=cause,
                    request_id=command.request_id, cancelled=command.cancelled, adjusted=list(command.adjusted),
                    flattened=list(command.flattened),
                ))
                return facts
            case commands.RedeemPositions():
                return [
                    PositionRedeemed(
                        # From tenant, book, venue and symbol: a repeated redemption is one event.
                        event_id=derive_id("position_redeemed", tenant, "sandbox", r.venue, r.symbol),
                        ts_ns=now_ns, tenant=tenant, causation_id=cause, venue=r.venue, symbol=r.symbol,
                        slug=r.slug, qty_1e8=r.qty_1e8, settle_px_1e9=r.settle_px_1e9, mode=command.mode,
                        is_sandbox=True,
                    )
                    for r in command.redemptions
                ]
        log.warning("sandbox: command %s is not one this executor applies", type(command).__name__)
        return []
