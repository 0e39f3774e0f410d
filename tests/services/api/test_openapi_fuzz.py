"""Property-based run of our own OpenAPI schema (issue 6): no 5xx, no response outside the schema.

The whole stack is built the way the SDK test builds it (sims over real sockets, edges, trader
parts on a real nats-server, the API on a real uvicorn port), then schemathesis reads the app's
served /openapi.json and generates requests for every operation. Generation and the HTTP calls
are synchronous (hypothesis + requests), so they run in a worker thread while the event loop
keeps the stack alive."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)

from services.bus import Bus
from tests.services.conftest import Stack
from tests.stack import freeze

# Bounded for CI: a few derandomized examples per operation and pass (~1k requests, a few seconds).
# Shrinking is off: a failure is reported with its curl line, and shrinking could run unbounded.
MAX_EXAMPLES = 15

# Against schema-valid input, every documented status must carry a body its schema accepts.
POSITIVE_CHECKS: list[CheckFunction] = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
]
# Left out on purpose: `status_code_conformance`. FastAPI documents only 200 and its default 422,
# while every handler answers errors through the contract's envelope (400 INVALID_PARAMS, 401,
# 404, 409, ...; services/api/errors.py). Those statuses are the contract, not drift, and the
# schema does not list them, so the check cannot hold; the body of every documented status is
# still validated by `response_schema_conformance`, and any 5xx fails `not_a_server_error`.
# `negative_data_rejection` / `positive_data_acceptance` are not run either: handlers that read a
# raw JSON body (orders, preview, credentials) declare no request schema, so "valid per schema"
# says nothing about what they accept, and the contract answers 400 where FastAPI documents 422.

# Out-of-schema input (negative mode) must still never be a 5xx.
NEGATIVE_CHECKS: list[CheckFunction] = [not_a_server_error]

# Handlers that parse the raw body themselves (POST /v1/orders, /v1/orders/preview, PUT/POST
# /v1/credentials/{venue}) declare no requestBody, so schemathesis alone would only ever send an
# empty body. For those a further pass sends JSON the contract's field names make interesting:
# right keys with wrong, huge, non-finite or mistyped values, and arbitrary JSON documents.
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "0", "-1", "0.01", "1e400", "NaN", "Infinity", "-Infinity", "1e-12", "abc"]),
    st.text(max_size=8),
)
_JSON = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
# Mostly-valid shapes with one field off reach past the first check into the parsing and routing.
_AMOUNT = st.one_of(
    st.sampled_from([0.01, "0.01", 1, "NaN", "Infinity", "-Infinity", "1e400", "1e-12", "-0.5", 1e300, 10**30]), _SCALARS
)
_SIMPLE_ORDER = st.fixed_dictionaries(
    {"symbol": st.just("BTC-USDT"), "side": st.sampled_from(["buy", "sell"]), "qty": _AMOUNT},
    optional={"price": _AMOUNT, "venue": st.sampled_from(["binance", "okx", "nope"])},
)
_NOTIONAL_ORDER = st.fixed_dictionaries(
    {"symbol": st.just("BTC-USDT"), "side": st.sampled_from(["buy", "sell"]), "notional": _AMOUNT},
)
_ORDER = _SIMPLE_ORDER | _NOTIONAL_ORDER | st.fixed_dictionaries(
    {"symbol": st.sampled_from(["BTC-USDT", "NOPE-USDT"]) | _SCALARS, "side": st.sampled_from(["buy", "sell"]) | _SCALARS},
    optional={"qty": _AMOUNT, "notional": _AMOUNT, "price": _AMOUNT, "venue": st.sampled_from(["binance", "nope"]) | _SCALARS,
              "graph_id": _SCALARS, "sandbox": _SCALARS, "nodes": _JSON, "edges": _JSON, "risk": _JSON},
)
_CREDENTIALS = st.fixed_dictionaries(
    {"api_key": st.text(max_size=8) | _SCALARS, "api_secret": st.text(max_size=8) | _SCALARS},
    optional={"passphrase": _SCALARS, "extra_json": _JSON},
)
# A hosted strategy: a real one-file project (tar.gz, base64), or anything else in its place.
_PROJECT = "H4sIAIXtFmsC/+3NMQrCQBQE0F97CrtoI5u4xPOkyxaGEGPh7V3SCPYK4nvNDNPMdSjTaX7EJ6Wqz3nL6j1TavOrb/ulO/exT/EF99s6LPUy/tO8lGk9NGNpjrsAAAAAAAAAAADgZzwBf9DcyQAoAAA="  # main.py: print("hi")
_STRATEGY = st.fixed_dictionaries(
    {"name": st.sampled_from(["s", ""]) | _SCALARS, "runtime": st.sampled_from(["python", "node"]) | _SCALARS,
     "entrypoint": st.sampled_from(["main.py", "../x.py", "missing.py"]) | _SCALARS,
     "artifact_base64": st.sampled_from([_PROJECT, "%%", ""]) | _SCALARS},
    optional={"start_immediately": _SCALARS, "env": _JSON, "secrets": _JSON, "sequence_api_key": _SCALARS,
              "resources": st.fixed_dictionaries({}, optional={"memory": _AMOUNT | st.just("64Mi"),
                                                               "cpu_seconds": _AMOUNT, "wall_clock_s": _AMOUNT}) | _JSON},
)
BODIES: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("POST", "/v1/strategies"): _STRATEGY | _JSON,
    ("POST", "/v1/orders"): _ORDER | _JSON,
    ("POST", "/v1/orders/preview"): _ORDER | _JSON,
    ("PUT", "/v1/credentials/{venue}"): _CREDENTIALS | _JSON,
    ("POST", "/v1/credentials/{venue}"): _CREDENTIALS | _JSON,
    ("PUT", "/v1/sandbox/settings"): st.fixed_dictionaries({"balances": st.dictionaries(
        st.sampled_from(["USDT", "BTC", "b/tc", ""]) | st.text(max_size=4), _AMOUNT, max_size=3)}) | _JSON,
    ("POST", "/v1/sandbox/positions"): st.fixed_dictionaries(
        {"venue": st.sampled_from(["binance", "nope"]) | _SCALARS, "asset": st.sampled_from(["BTC", "x.y"]) | _SCALARS,
         "qty": _AMOUNT}) | _JSON,
}
BODY_EXAMPLES = 40


# Only the WebSocket (/v1/stream) is out of scope, and it is not in the OpenAPI document at all.
# No HTTP route blocks on the market by design (POST /v1/orders publishes and returns), so every
# operation the schema lists is run.


def _property(
    strategy: Any, checks: list[CheckFunction], base_url: str, headers: dict[str, str], examples: int,
    seen: dict[str, set[int]], stop: threading.Event,
) -> Any:
    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        if stop.is_set():
            return  # the test is over (failed or timed out): send nothing more
        response = case.call_and_validate(base_url=base_url, headers=headers, checks=checks, timeout=10)
        seen.setdefault(f"{case.operation.method.upper()} {case.operation.path}", set()).add(response.status_code)

    return run


def _fuzz(
    raw: dict[str, Any], base_url: str, key: str, known: dict[str, str], seen: dict[str, set[int]],
    stop: threading.Event,
) -> list[str]:
    schema = schemathesis.openapi.from_dict(raw)
    headers = {"Authorization": f"Bearer {key}"}
    problems: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()
        label = f"{op.method.upper()} {op.path}"
        names = {p.name for p in op.path_parameters}
        # Random path values almost always miss (404); a second pass pins them to real objects
        # (a live symbol, venue, graph and order) so the 200 bodies are generated and checked too.
        passes: list[tuple[str, Any, list[CheckFunction]]] = [
            ("positive", op.as_strategy(GenerationMode.POSITIVE), POSITIVE_CHECKS),
        ]
        # Negative mode needs something to break: only query parameters carry constraints here
        # (types, bounds); unconstrained string path parameters have no invalid value at all.
        if any(True for _ in op.query):
            passes.append(("negative", op.as_strategy(GenerationMode.NEGATIVE), NEGATIVE_CHECKS))
        if names and names <= known.keys():
            pinned = {n: known[n] for n in names}
            passes.append(("known ids", op.as_strategy(GenerationMode.POSITIVE, path_parameters=pinned), POSITIVE_CHECKS))
        if (body_strategy := BODIES.get((op.method.upper(), op.path))) is not None:
            assert "requestBody" not in raw["paths"][op.path][op.method.lower()]  # else schemathesis covers it
            pinned = {n: known[n] for n in names}
            bodies = body_strategy.flatmap(
                lambda body, op=op, pinned=pinned: op.as_strategy(
                    GenerationMode.POSITIVE, body=body, media_type="application/json", path_parameters=pinned or None
                )
            )
            passes.append(("json bodies", bodies, POSITIVE_CHECKS))
        for name, strategy, checks in passes:
            examples = BODY_EXAMPLES if name == "json bodies" else MAX_EXAMPLES
            run = _property(strategy, checks, base_url, headers, examples, seen, stop)
            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # every operation's failure, not just the first
                problems.append(f"{label} [{name}]: {exc}")
    return problems


# ~1k requests, ~20 s of CPU in this process (measured: API, trader parts and the fuzz share it).
# A busy 2-core machine (load 16-20, as when the suite runs beside others) gives the process an
# eighth of a core: 190 s measured for the call. The budget is set by that work, not by a wait.
@pytest.mark.timeout(600)
async def test_every_operation_answers_within_its_schema_and_never_5xx(stack: Stack, bus: Bus) -> None:
    # One real order, so graph and order ids resolve to something.
    submitted = await stack.call(stack.seq.buy, "BTC-USDT", 0.01)
    status = await stack.until_terminal(submitted["graph_id"])
    assert status["status"] == "COMPLETED"
    known = {
        "symbol": "BTC-USDT",
        "venue": "binance",
        "graph_id": submitted["graph_id"],
        "node_order_id": status["nodes"]["order"]["node_order_id"],
        "node_id": status["nodes"]["order"]["node_order_id"].rsplit(":", 2)[1],
    }
    hosted = await stack.call(stack.seq.create_strategy, "fuzzed", "python", "main.py", _PROJECT)
    known["strategy_id"] = hosted["strategy_id"]
    headers = {"Authorization": f"Bearer {stack.key}"}
    async with httpx.AsyncClient(base_url=stack.base_url, headers=headers) as client:
        served = await client.get("/openapi.json")
        # The three 5xx the first runs found, pinned as plain regressions:
        preview = await client.post("/v1/orders/preview", json={"symbol": "BTC-USDT", "side": "buy", "qty": "Infinity"})
        assert preview.status_code == 422 and "finite" in preview.json()["error"]["message"]
        huge = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": "1e400"})
        assert huge.status_code == 422 and "out of range" in huge.json()["error"]["message"]
        beyond = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "sell", "notional": 2.5e16})
        assert beyond.status_code == 422 and "64 bits" in beyond.json()["error"]["message"]
        # ...and a notional order is now sized at the NBBO mid instead of failing.
        nbbo = stack.api.market.nbbo("BTC-USDT")
        sized = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "notional": 100})
    assert sized.status_code == 200, sized.text
    node = (await stack.until_terminal(sized.json()["graph_id"]))["nodes"]["order"]
    # 100 USD = 100e9 usd_1e9 -> qty_1e8 = usd_1e9 * 1e8 // mid_1e9 at the mid the router saw; the
    # sim may tick between our read and its, so the implied price is held to 1% of our mid.
    assert nbbo is not None and node["qty_1e8"] > 0
    mid = (nbbo.bid_px_1e9 + nbbo.ask_px_1e9) // 2
    assert abs(100 * 10**17 // node["qty_1e8"] - mid) <= mid // 100

    assert served.status_code == 200
    # Frozen markets for the ~1k requests: the books stay quotable, and the process (API, trader
    # parts and edges share it) no longer spends most of a loaded machine's CPU on 40 book ticks a
    # second that no check here looks at; on a busy 2-core box that alone took the run past its timeout.
    await freeze(bus, stack.market.servers, stack.market.runners)
    seen: dict[str, set[int]] = {}
    stop = threading.Event()
    try:
        problems = await asyncio.to_thread(_fuzz, served.json(), stack.base_url, stack.key, known, seen, stop)
    finally:
        # A timed-out test's worker thread would otherwise go on fuzzing, and the event loop's
        # shutdown waits for it: a long teardown against a stack that is going away.
        stop.set()
    assert problems == [], "\n\n".join(problems)
    # Every operation in the document was exercised, and the pinned passes reached real 200s.
    operations = {f"{m.upper()} {p}" for p, item in served.json()["paths"].items() for m in item}
    assert seen.keys() == operations
    for label in ("GET /v1/quotes/{symbol}", "GET /v1/execution_graphs/{graph_id}", "GET /v1/execution/review/{graph_id}",
                  "DELETE /v1/orders/{node_order_id}", "POST /v1/orders/preview", "POST /v1/orders"):
        assert 200 in seen[label], (label, seen[label])
    for label in ("POST /v1/strategies", "GET /v1/strategies/{strategy_id}"):  # DELETE runs before start/stop/logs
        assert 200 in seen[label], (label, seen[label])
