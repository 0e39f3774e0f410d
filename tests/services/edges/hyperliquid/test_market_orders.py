"""Hyperliquid market orders: an IOC limit at a collar (mid moved by the max slippage against
us, rounded toward the mid to 5 significant figures and 6 - szDecimals decimals)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from eth_account import Account

from events.routing import ChildAllocated
from services.edges.hyperliquid import signing
from services.edges.hyperliquid.orders import HyperliquidOrders, collar_price
from services.edges.hyperliquid.private_server import valid_price
from services.edges.transport import VenueReply
from services.errors import VenueError
from services.vault import Credentials
from tests.shared_fixtures import fixture_json

KEY = "0x" + "0123456789012345678901234567890123456789012345678901234567890123"
ADDRESS = Account.from_key(KEY).address
COID = "0b7e5f8e-3f0a-5c1e-9d53-2a3c1e0b7f10"
FIVE_PCT = 50_000


@pytest.mark.parametrize(("mid", "sz_decimals", "buy", "sell"), [
    ("30135.0", 5, "31641", "28629"),  # BTC (allMids fixture): 31641.75 / 28628.25, 5 figures, toward the mid
    ("1903.95", 4, "1999.1", "1808.8"),  # ETH: 1999.1475 / 1808.7525
    ("9.3384", 2, "9.8053", "8.8715"),  # ATOM: 9.80532 / 8.87148
    ("3.14159", 4, "3.29", "2.99"),  # 5 figures would be 3.2986 / 2.9846: only 2 decimals with szDecimals 4
    ("0.069277", 2, "0.0727", "0.0659"),  # 0.07274085 / 0.06581315: 4 decimals
    ("123456", 5, "129628", "117284"),  # whole prices are always allowed, whatever their figures
])
def test_the_collar_is_the_mid_moved_by_the_max_slippage_and_rounded_toward_the_mid(
    mid: str, sz_decimals: int, buy: str, sell: str
) -> None:
    assert collar_price(Decimal(mid), True, FIVE_PCT, sz_decimals) == Decimal(buy)
    assert collar_price(Decimal(mid), False, FIVE_PCT, sz_decimals) == Decimal(sell)
    for px in (Decimal(buy), Decimal(sell)):  # never beyond the collar, and a price the venue takes
        assert Decimal(mid) * Decimal("0.95") <= px <= Decimal(mid) * Decimal("1.05")
        digits = px.normalize().as_tuple()
        assert px == px.to_integral_value() or (len(digits.digits) <= 5 and -int(digits.exponent) <= 6 - sz_decimals)


def test_the_collar_refuses_a_missing_mid() -> None:
    with pytest.raises(ValueError, match="mid"):
        collar_price(Decimal(0), True, FIVE_PCT, 5)


def test_the_local_server_checks_the_same_price_rule() -> None:  # its coins have szDecimals 5: 1 decimal
    assert [valid_price(Decimal(p)) for p in ("51970", "123456", "4999.5", "49990.5", "1.2345", "0")] == [
        True, True, True, False, False, False]


def market(side: str = "sell") -> ChildAllocated:
    return ChildAllocated(
        event_id="e", ts_ns=1, plan_id="p", graph_id="g", node_id="n", child_id="c", client_order_id=COID,
        venue="hyperliquid", symbol="ETH-USD-PERP", side=side, qty_1e8=1_470_000, order_type="market",  # type: ignore[arg-type]
        limit_px_1e9=None, tif="ioc", is_sandbox=False,
    )


def test_a_market_child_reads_the_mids_then_sends_a_signed_ioc_at_the_collar() -> None:
    o = HyperliquidOrders()
    o.load_reference(VenueReply(200, json.dumps(fixture_json("venues", "hyperliquid", "http_meta_perp_sample.json")).encode()))
    quote = o.quote_request(market())
    assert quote is not None and json.loads(quote.body) == {"type": "allMids"}
    assert o.quote_request(ChildAllocated(**{**{f: getattr(market(), f) for f in market().__struct_fields__},
                                             "order_type": "limit", "limit_px_1e9": 10**12})) is None
    mids = fixture_json("venues", "hyperliquid", "http_info_allMids.json")["response"]
    o.load_quote(market(), VenueReply(200, json.dumps(mids).encode()))
    for side, px in (("sell", "1808.8"), ("buy", "1999.1")):
        body = json.loads(o.new_order(market(side), Credentials(ADDRESS, KEY), 1677777606040).body)
        [wire] = body["action"]["orders"]
        assert (wire["a"], wire["b"], wire["p"], wire["s"], wire["t"]) == (1, side == "buy", px, "0.0147",
                                                                         {"limit": {"tif": "Ioc"}})
        assert signing.recover_l1_signer(body["action"], None, 1677777606040, None, True, body["signature"]) == ADDRESS
    with pytest.raises(VenueError):  # a failed read is the venue's hiccup: retried, not a rejection
        o.load_quote(market(), VenueReply(502, b"bad gateway"))
