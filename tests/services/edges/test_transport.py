"""services/edges/transport.py: the wire helpers."""

from __future__ import annotations

from decimal import Decimal

from services.edges.numbers import wire_decimal
from services.edges.transport import (
    SignedRequest,
    venue_fee,
    hex_client_id,
)
from tests.services.edges.sandbox.helpers import PX


def test_wire_decimal_is_plain_and_exact() -> None:
    assert wire_decimal(150_000_000, 8) == "1.5"
    assert wire_decimal(100_000_000, 8) == "1"
    assert wire_decimal(1, 8) == "0.00000001"
    assert wire_decimal(50_000_500_000_000, 9) == "50000.5"
    assert wire_decimal(0, 9) == "0"


def test_hex_client_id_is_the_uuid_or_a_stable_digest() -> None:
    assert hex_client_id("0b7e5f8e-3f0a-5c1e-9d53-2a3c1e0b7f10") == "0b7e5f8e3f0a5c1e9d532a3c1e0b7f10"
    assert hex_client_id("anything") == hex_client_id("anything") != hex_client_id("anything else")


def test_fees_in_usd_round_up_and_price_the_base_asset() -> None:
    assert venue_fee(Decimal("0.0000000001"), "USDT", "BTC-USDT", 0)["fee_usd_1e9"] == 1  # 1e-10 rounds up
    assert venue_fee(Decimal("0.0005"), "BTC", "BTC-USDT", 50_000 * PX)["fee_usd_1e9"] == 25 * PX
    assert venue_fee(Decimal("-0.5"), "USDC", "ETH-USDC", 0)["fee_usd_1e9"] == -PX // 2  # a rebate


def test_a_fee_in_an_unpriced_asset_keeps_its_asset_and_amount() -> None:
    # BNB has no USD price at the venue edge: 0 USD, but the fill still says what was paid.
    assert venue_fee(Decimal("0.00123"), "BNB", "BTC-USDT", 50_000 * PX) == {
        "fee_asset": "BNB", "fee_qty_1e8": 123_000, "fee_usd_1e9": 0,
    }
    assert venue_fee(Decimal("0.000000001"), "BTC", "BTC-USDT", 50_000 * PX)["fee_qty_1e8"] == 1  # rounds up


def test_signed_request_repr_never_shows_headers() -> None:
    request = SignedRequest("POST", "/x", body="{}", headers={"OK-ACCESS-PASSPHRASE": "pass-phrase-xyz"})
    assert "pass-phrase-xyz" not in repr(request)

