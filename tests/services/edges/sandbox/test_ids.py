"""services/edges/sandbox/ids.py: ids are pure functions of their inputs and stable forever."""

from __future__ import annotations

import re

import pytest

from services.edges.sandbox.ids import (
    derive_client_order_id,
    replacement_client_order_id,
    sandbox_fill_id,
    sandbox_venue_order_id,
)

EVENT = "0190f0e2-7c1a-7b3e-9d2f-4a5b6c7d8e9f"


def test_client_order_id_is_stable_across_processes() -> None:
    # Pinned: a restart that derived a different id would place a second order.
    assert derive_client_order_id(EVENT) == "47171a21e396d5478dc9229da4236961"


def test_client_order_id_fits_every_venue_format() -> None:
    plain = derive_client_order_id(EVENT, leg=2, venue="okx")
    hl = derive_client_order_id(EVENT, leg=2, venue="hyperliquid")
    assert re.fullmatch(r"[0-9a-f]{32}", plain)
    assert hl == "0x" + plain


def test_legs_and_events_give_distinct_ids() -> None:
    ids = {derive_client_order_id(e, leg=leg) for e in ("e1", "e2") for leg in range(3)}
    assert len(ids) == 6


def test_an_empty_event_id_is_refused() -> None:
    with pytest.raises(ValueError, match="event_id is empty"):
        derive_client_order_id("")


def test_venue_order_and_fill_ids_are_deterministic_and_scoped_by_venue() -> None:
    a = sandbox_venue_order_id("okx", "c1")
    assert a == sandbox_venue_order_id("okx", "c1")
    assert a != sandbox_venue_order_id("bybit", "c1")
    assert re.fullmatch(r"sbx-okx-[0-9a-f]{20}", a)
    assert sandbox_fill_id(a, 3) == a + "-f3"
    assert replacement_client_order_id("c1", "okx") == derive_client_order_id("replace:c1", venue="okx")
