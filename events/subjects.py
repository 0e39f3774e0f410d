"""The one place that decides NATS subject names.

md.<venue>.<symbol>.<kind>     market data per venue (kind: snap, delta, trade, status)
nbbo.<symbol>                  consolidated NBBO changes
mkt.<venue>.<slug>.<kind>      prediction-market lifecycle (kind: listed, resolved)
ord.<tenant>.<graph_id>        execution graph (single writer: the graph engine)
risk.<tenant>.acct             account aggregate: reservations (single writer: risk)
risk.<tenant>.kill             kill switch
route.<tenant>.<graph_id>      SOR plans and child allocations
exec.<venue>.<tenant>          child order lifecycle and fills
exec._.<tenant>                sandbox settings and resets (venue-wide)
tca.<tenant>.<graph_id>        TCA reports
tca.score.<venue>.<symbol>     venue scores (tenant-independent; four tokens, so never a report)
vault.<tenant>.<venue>         credential lifecycle
algo.<tenant>.<deployment_id>  algo lifecycle and logs
"""

from __future__ import annotations

from events import algos, execution, graph, market, risk, routing, sandbox, tca, vault
from events.base import Event

_BAD = str.maketrans({".": "_", "*": "_", ">": "_", " ": "_", "\t": "_"})
VENUE_WIDE = "_"
VENUE_SCORES = "tca.score.*.*"  # every VenueScored, and no TCA report (those have three tokens)


def token(value: str) -> str:
    """Make a value safe as one subject token ('.', '*', '>' and blanks become '_')."""
    return value.translate(_BAD) or VENUE_WIDE


def md(venue: str, symbol: str, kind: str) -> str:
    return f"md.{token(venue)}.{token(symbol)}.{kind}"


def graph_subject(tenant: str, graph_id: str) -> str:
    return f"ord.{token(tenant)}.{token(graph_id)}"


def account_subject(tenant: str) -> str:
    return f"risk.{token(tenant)}.acct"


def subject_for(event: Event) -> str:
    """Return the subject an event is published on."""
    match event:
        case market.BookSnapshot(venue=v, symbol=s):
            return md(v, s, "snap")
        case market.BookDeltaBatch(venue=v, symbol=s):
            return md(v, s, "delta")
        case market.TradePrinted(venue=v, symbol=s):
            return md(v, s, "trade")
        case market.VenueStatusChanged(venue=v, symbol=s):
            return md(v, s or VENUE_WIDE, "status")
        case market.NbboChanged(symbol=s):
            return f"nbbo.{token(s)}"
        case market.MarketListed(venue=v, slug=s):
            return f"mkt.{token(v)}.{token(s)}.listed"
        case market.MarketResolved(venue=v, slug=s):
            return f"mkt.{token(v)}.{token(s)}.resolved"
        case graph.GraphSubmitted(graph_id=g) | graph.NodeActivated(graph_id=g) | graph.NodeAmended(
            graph_id=g
        ) | graph.NodeCompleted(graph_id=g) | graph.NodeCancelled(graph_id=g) | graph.GraphCompleted(
            graph_id=g
        ) | graph.GraphCancelled(graph_id=g) | graph.GraphPaused(graph_id=g) | graph.GraphResumed(
            graph_id=g
        ):
            return graph_subject(event.tenant, g)
        case risk.KillSwitchEngaged() | risk.KillSwitchCleared():
            return f"risk.{token(event.tenant)}.kill"
        case risk.RiskCheckPassed() | risk.RiskCheckRejected() | risk.ReservationMade() | risk.ReservationReleased():
            return account_subject(event.tenant)
        case routing.PlanMade(graph_id=g) | routing.ChildAllocated(graph_id=g):
            return f"route.{token(event.tenant)}.{token(g)}"
        case execution.ChildSubmitted(venue=v) | execution.ChildAcked(venue=v) | execution.ChildRejected(
            venue=v
        ) | execution.ChildCancelled(venue=v) | execution.ChildAmended(venue=v) | execution.FillRecorded(
            venue=v
        ) | execution.BalanceAdjusted(venue=v):
            return f"exec.{token(v)}.{token(event.tenant)}"
        case execution.PositionRedeemed(venue=v):
            return f"exec.{token(v)}.{token(event.tenant)}"
        case sandbox.SandboxSettingsChanged() | sandbox.SandboxReset():
            return f"exec.{VENUE_WIDE}.{token(event.tenant)}"
        case tca.TcaReported(graph_id=g):
            return f"tca.{token(event.tenant)}.{token(g)}"
        case tca.VenueScored(venue=v, symbol=s):
            return f"tca.score.{token(v)}.{token(s)}"
        case vault.CredentialStored(venue=v) | vault.CredentialRevoked(venue=v):
            return f"vault.{token(event.tenant)}.{token(v)}"
        case algos.AlgoDeployed(deployment_id=d) | algos.AlgoStarted(deployment_id=d) | algos.AlgoStopped(
            deployment_id=d
        ) | algos.AlgoLogged(deployment_id=d):
            return f"algo.{token(event.tenant)}.{token(d)}"
    raise TypeError(f"no subject for event type {type(event).__name__}")
