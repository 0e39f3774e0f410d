"""The one place that decides NATS subject names, and which role alone appends to each.

cmd.<tenant>                   commands from the front doors (API, CLI, MCP)
md.<venue>.<symbol>.<kind>     market data per venue (kind: snap, delta, trade, status, funding);
                               an edge's own status: md.<venue>._.status (md.<venue>._perp.status
                               for a venue's separate perp edge)
nbbo.<symbol>                  consolidated NBBO changes
mkt.<venue>.<slug>.<kind>      prediction-market lifecycle (kind: listed, resolved)
md._rtt.<from>.<to>            measured round trip between two regions' NATS (RegionRttMeasured;
                               on the MD stream so every reader of books sees it, never sourced
                               to another region: each region measures its own)
ord.<tenant>.<graph_id>        execution graph (single writer: the graph engine)
risk.<tenant>.acct             account aggregate: reservations (single writer: risk)
risk.<tenant>.kill             kill switch
risk.<tenant>.anomaly          execution facts the folds refused (unknown child, wrong venue)
route.<tenant>.<graph_id>      SOR plans and child allocations
exec.<venue>.<tenant>          child order lifecycle and fills
exec._.<tenant>                sandbox settings and resets (venue-wide)
tca.<tenant>.<graph_id>        TCA reports
tca.score.<venue>.<symbol>     venue scores (tenant-independent; four tokens, so never a report)
vault.<tenant>.<venue>         credential lifecycle
algo.<tenant>.<deployment_id>  algo deployment lifecycle (the API: deployed, started, stopped, undeployed)
algo.<tenant>.<deployment_id>.run  what the algo runner saw: instances running/paused, logs, mesh, stats
strat.<tenant>.<strategy_id>   hosted strategy lifecycle

`WRITERS` names the one writer (a role) of every subject; a `WriterBus` appends as one role,
refuses a subject declared for another and stamps its role on each message (`WRITER_HEADER`),
so the log itself shows who wrote what.
"""

from __future__ import annotations

from events import algos, commands, execution, graph, market, risk, routing, sandbox, tca, vault
from events import regions, strategies
from events.base import Event

_BAD = str.maketrans({".": "_", "*": "_", ">": "_", " ": "_", "\t": "_"})
VENUE_WIDE = "_"
RTT_PREFIX = "md._rtt"  # `_` starts no venue id: never an edge's subject
VENUE_SCORES = "tca.score.*.*"  # every VenueScored, and no TCA report (those have three tokens)
WRITER_HEADER = "Crossbook-Writer"

# Subject pattern -> the role that alone appends to it (the first pattern that matches counts).
WRITERS: tuple[tuple[str, str], ...] = (
    ("cmd.*", "front_door"),
    ("ord.*.*", "graph"),
    ("risk.*.acct", "risk"),
    ("risk.*.kill", "risk"),
    ("risk.*.anomaly", "risk"),
    ("route.*.*", "router"),
    ("exec.*.*", "executor"),
    (VENUE_SCORES, "tca"),
    ("tca.*.*", "tca"),
    ("vault.*.*", "front_door"),
    ("algo.*.*", "front_door"),  # the API validates and stores modules: their lifecycle
    ("algo.*.*.run", "algo_host"),  # the algo runner (services/algos/runner.py)
    ("strat.*.*", "front_door"),  # the API hosts the strategy supervisor
    (f"{RTT_PREFIX}.*.*", "prober"),  # before md.*.*.*: the first match counts
    ("md.*.*.*", "edge"),
    ("mkt.*.*.*", "edge"),
    ("nbbo.*", "nbbo"),
)
# Also appended by a second role. (The sandbox book's facts on exec.* are the executor's alone:
# the API appends commands for them, events/commands.py SANDBOX_COMMANDS.)
ALSO_WRITTEN_BY: dict[str, tuple[str, ...]] = {
    # The algo runner is the front door of its algos' orders: it appends their commands, and
    # nothing else a front door may write (no lifecycle, no sandbox facts).
    "cmd.*": ("algo_host",),
}

_WRITER_OF = dict(WRITERS)  # pattern -> its one writer (asked on every append)


def _matches(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    if p[-1] == ">":
        return len(s) >= len(p) and all(a in ("*", b) for a, b in zip(p[:-1], s))
    return len(p) == len(s) and all(a in ("*", b) for a, b in zip(p, s))


def writer_pattern(subject: str) -> str:
    """The `WRITERS` pattern that governs `subject`."""
    for pattern, _ in WRITERS:
        if _matches(pattern, subject):
            return pattern
    raise KeyError(f"no writer is declared for subject {subject!r}")


def writer_of(subject: str) -> str:
    """The role that alone appends to `subject` (KeyError when none is declared)."""
    return _WRITER_OF[writer_pattern(subject)]


def may_write(role: str, subject: str) -> bool:
    pattern = writer_pattern(subject)
    return role == _WRITER_OF[pattern] or role in ALSO_WRITTEN_BY.get(pattern, ())


def token(value: str) -> str:
    """Make a value safe as one subject token ('.', '*', '>' and blanks become '_')."""
    return value.translate(_BAD) or VENUE_WIDE


def md(venue: str, symbol: str, kind: str) -> str:
    return f"md.{token(venue)}.{token(symbol)}.{kind}"


def rtt_subject(from_region: str, to_region: str) -> str:
    return f"{RTT_PREFIX}.{token(from_region)}.{token(to_region)}"


def graph_subject(tenant: str, graph_id: str) -> str:
    return f"ord.{token(tenant)}.{token(graph_id)}"


def account_subject(tenant: str) -> str:
    return f"risk.{token(tenant)}.acct"


def command_subject(tenant: str) -> str:
    return f"cmd.{token(tenant)}"


def subject_for(event: Event) -> str:
    """Return the subject an event is published on."""
    if isinstance(event, (*commands.COMMANDS, *commands.LIVE_COMMANDS)):
        return command_subject(event.tenant)
    match event:
        case market.BookSnapshot(venue=v, symbol=s):
            return md(v, s, "snap")
        case market.BookDeltaBatch(venue=v, symbol=s):
            return md(v, s, "delta")
        case market.TradePrinted(venue=v, symbol=s):
            return md(v, s, "trade")
        case market.FundingRateUpdated(venue=v, symbol=s):
            return md(v, s, "funding")
        case market.VenueStatusChanged(venue=v, symbol=s, instrument_type=t):
            # One venue-wide subject per edge (`_` or `_perp`): a reader of each subject's last
            # message must see the spot and the perp edge of one venue both.
            return md(v, s or (f"{VENUE_WIDE}{t}" if t and t != "spot" else VENUE_WIDE), "status")
        case regions.RegionRttMeasured(from_region=a, to_region=b):
            return rtt_subject(a, b)
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
        case risk.FactRefused():
            return f"risk.{token(event.tenant)}.anomaly"
        case risk.RiskCheckPassed() | risk.RiskCheckRejected() | risk.ReservationMade() | risk.ReservationReleased():
            return account_subject(event.tenant)
        case routing.PlanMade(graph_id=g) | routing.ChildAllocated(graph_id=g):
            return f"route.{token(event.tenant)}.{token(g)}"
        case execution.ChildSubmitted(venue=v) | execution.ChildAcked(venue=v) | execution.ChildRejected(
            venue=v
        ) | execution.ChildCancelled(venue=v) | execution.ChildAmended(venue=v) | execution.FillRecorded(
            venue=v
        ) | execution.BalanceAdjusted(venue=v) | execution.VenueReconciled(venue=v):
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
        ) | algos.AlgoUndeployed(deployment_id=d):
            return f"algo.{token(event.tenant)}.{token(d)}"
        case algos.AlgoInstanceRunning(deployment_id=d) | algos.AlgoInstancePaused(
            deployment_id=d
        ) | algos.AlgoLogBatch(deployment_id=d) | algos.AlgoMeshMessage(deployment_id=d) | algos.AlgoStats(
            deployment_id=d
        ):
            return f"algo.{token(event.tenant)}.{token(d)}.run"
        case strategies.StrategyCreated(strategy_id=i) | strategies.StrategyStarted(strategy_id=i) | strategies.StrategyStopped(
            strategy_id=i
        ) | strategies.StrategyDeleted(strategy_id=i):
            return f"strat.{token(event.tenant)}.{token(i)}"
    raise TypeError(f"no subject for event type {type(event).__name__}")
