"""Kraken checksum and book replays (services/edges/kraken/book.py) through BookSync.

Recorded streams are checked against an independent rebuild written here: a plain dict fold of
the raw JSON (Decimal keys), never L2Book or BookSync.
"""

from __future__ import annotations

import json
import zlib
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from services.edges.book import RawLevel
from services.edges.kraken import book
from services.edges.kraken.adapter import KrakenAdapter
from services.edges.kraken.config import KrakenConfig
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate, SeqState, SeqVerdict
from tests.shared_fixtures import fixture_json, fixture_lines, fixture_path

DOC_CHECKSUM = 3310070434


def _fold(book_: dict[str, dict[Decimal, Decimal]], side: str, levels: list[Any], depth: int) -> None:
    levels_ = book_[side]
    for price, qty, *_ in levels:
        p, q = Decimal(str(price)), Decimal(str(qty))
        if q:
            levels_[p] = q
        else:
            levels_.pop(p, None)
    keep = sorted(levels_, reverse=side == "bids")[:depth]
    book_[side] = {p: levels_[p] for p in keep}


def _ints(book_: dict[str, dict[Decimal, Decimal]], side: str) -> list[tuple[int, int]]:
    prices = sorted(book_[side], reverse=side == "bids")
    return [(int(p * 10**9), int(book_[side][p] * 10**8)) for p in prices]


def _text_crc(asks: list[tuple[str, str]], bids: list[tuple[str, str]]) -> int:
    # Independent of book.py: Kraken's recipe applied to the wire strings themselves.
    def tok(s: str) -> str:
        return s.replace(".", "").lstrip("0")

    return zlib.crc32("".join(tok(p) + tok(q) for p, q in asks[:10] + bids[:10]).encode())


# --- checksum vectors -----------------------------------------------------------------------
def test_doc_example_checksum_string_and_value() -> None:
    data = fixture_json("venues", "kraken", "ws_v2_book_checksum_doc_example.json")["data"][0]
    asks = [(int(Decimal(a["price"]) * 10**9), int(Decimal(a["qty"]) * 10**8)) for a in data["asks"]]
    bids = [(int(Decimal(b["price"]) * 10**9), int(Decimal(b["qty"]) * 10**8)) for b in data["bids"]]
    text = book.checksum_text(asks, bids, 1, 8)
    # venues.md §4 quotes the start and end of the hashed string
    assert text.startswith("452852100000452864154571953")
    assert text.endswith("45276615445238")
    assert book.checksum(asks, bids, 1, 8) == DOC_CHECKSUM == data["checksum"]
    strings = [(a["price"], a["qty"]) for a in data["asks"]], [(b["price"], b["qty"]) for b in data["bids"]]
    assert _text_crc(*strings) == DOC_CHECKSUM
    # a different precision writes different digits: the checksum must not match
    assert book.checksum(asks, bids, 2, 8) != DOC_CHECKSUM


def test_doc_example_validates_through_the_adapter() -> None:
    adapter = KrakenAdapter()
    raw = fixture_path("venues", "kraken", "ws_v2_book_checksum_doc_example.json").read_bytes()
    (update,) = adapter.parse(raw)
    assert isinstance(update, BookUpdate) and update.checksum == DOC_CHECKSUM
    sync = BookSync(adapter, "BTC/USD")
    assert sync.apply(update) is SyncResult.APPLIED
    assert not sync.stale
    assert sync.book.best_bid() == (45_283_500_000_000, 10_000_000)
    assert sync.book.best_ask() == (45_285_200_000_000, 100_000)


def test_precision_above_the_fixed_point_scale_pads_with_zeros() -> None:
    # qty_precision 10 (> 8 places) multiplies instead of dividing
    assert book.checksum_text([(1_500_000_000, 25_000_000)], [], 1, 10) == "152500000000"


# --- v2 ETH/USD real stream -----------------------------------------------------------------
def test_eth_usd_snapshot_and_update_validate_and_match_a_dict_fold() -> None:
    lines = fixture_lines("venues", "kraken", "ws_v2_book_ETH-USD_depth10.jsonl")
    adapter = KrakenAdapter()
    sync = BookSync(adapter, "ETH/USD")
    rebuilt: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}
    checksums = []
    for line in lines:
        for item in adapter.parse(line):
            if isinstance(item, BookUpdate):
                assert sync.apply(item) is SyncResult.APPLIED, sync.last_failure
                checksums.append(item.checksum)
        msg = json.loads(line, parse_float=Decimal)
        if msg.get("channel") == "book":
            d = msg["data"][0]
            _fold(rebuilt, "bids", [(x["price"], x["qty"]) for x in d["bids"]], 10)
            _fold(rebuilt, "asks", [(x["price"], x["qty"]) for x in d["asks"]], 10)
    assert checksums == [2606672715, 3329440863]
    assert sync.failures == 0 and not sync.stale
    assert sync.book.bids() == _ints(rebuilt, "bids")
    assert sync.book.asks() == _ints(rebuilt, "asks")
    # the update deleted 1797.29 and brought 1797.52 in as the 10th ask
    assert sync.book.ask_qty(1_797_290_000_000) == 0
    assert sync.book.asks()[-1] == (1_797_520_000_000, 156_601_318)
    assert sync.book.depth() == (10, 10)


def test_eth_usd_update_with_one_level_lost_is_caught_and_a_snapshot_recovers() -> None:
    lines = fixture_lines("venues", "kraken", "ws_v2_book_ETH-USD_depth10.jsonl")
    adapter = KrakenAdapter()
    sync = BookSync(adapter, "ETH/USD")
    (snap,) = adapter.parse(lines[1])
    (upd,) = adapter.parse(lines[2])
    assert isinstance(snap, BookUpdate) and isinstance(upd, BookUpdate)
    assert sync.apply(snap) is SyncResult.APPLIED
    upd.asks = upd.asks[1:]  # drop the delete of 1797.29: the checksum no longer matches
    assert sync.apply(upd) is SyncResult.CHECKSUM
    assert sync.stale and "checksum mismatch" in sync.last_failure
    (snap_again,) = adapter.parse(lines[1])
    assert sync.apply(snap_again) is SyncResult.APPLIED and not sync.stale


# --- re-serialised BTC/USD: precision, not raw text --------------------------------------------
def test_reserialized_snapshot_validates_only_at_instrument_precision() -> None:
    raw = fixture_path("venues", "kraken", "ws_v2_book_BTC-USD_snapshot_reserialized.json").read_bytes()
    data = json.loads(raw, parse_float=str)["data"][0]
    # the raw text has lost trailing zeros (and uses 5.325e-05): hashing it as-is fails
    asks, bids = [(a["price"], a["qty"]) for a in data["asks"]], [(b["price"], b["qty"]) for b in data["bids"]]
    assert _text_crc(asks, bids) != 2610022218
    configured = KrakenAdapter()
    (update,) = configured.parse(raw)
    assert BookSync(configured, "BTC/USD").apply(update) is SyncResult.APPLIED
    # with no precision row, the adapter reads it off the snapshot text (1 dp, 8 dp)
    inferred = KrakenAdapter(config=KrakenConfig(precisions={}))
    (update,) = inferred.parse(raw)
    assert inferred.precision("BTC/USD") == (1, 8)
    assert BookSync(inferred, "BTC/USD").apply(update) is SyncResult.APPLIED
    wrong = KrakenAdapter(config=KrakenConfig(precisions={"BTC/USD": (2, 8)}))
    (update,) = wrong.parse(raw)
    assert BookSync(wrong, "BTC/USD").apply(update) is SyncResult.CHECKSUM


# --- synthetic nautilus samples: must be caught ---------------------------------------------
def test_synthetic_nautilus_snapshot_fails_and_a_real_snapshot_recovers() -> None:
    adapter = KrakenAdapter()
    sync = BookSync(adapter, "BTC/USD")
    (snap,) = adapter.parse(fixture_path("venues", "kraken", "ws_book_snapshot.json").read_bytes())
    assert sync.apply(snap) is SyncResult.CHECKSUM
    assert sync.stale and sync.failures == 1
    (upd,) = adapter.parse(fixture_path("venues", "kraken", "ws_book_update.json").read_bytes())
    assert sync.apply(upd) is SyncResult.SKIPPED  # stale book: deltas wait for a snapshot
    (good,) = adapter.parse(fixture_path("venues", "kraken", "ws_v2_book_checksum_doc_example.json").read_bytes())
    assert sync.apply(good) is SyncResult.APPLIED and not sync.stale


def test_unknown_precision_fails_closed() -> None:
    adapter = KrakenAdapter(config=KrakenConfig(precisions={}))
    update = BookUpdate("XBT/EUR", False, [RawLevel(1, 1, "1", "1")], [], checksum=1)
    sync = BookSync(adapter, "XBT/EUR")
    sync.stale = False
    assert sync.apply(update) is SyncResult.CHECKSUM


# --- sequence rule --------------------------------------------------------------------------
@pytest.mark.parametrize("last", [None, 0, 5])
def test_sequence_always_applies(last: int | None) -> None:
    update = BookUpdate("BTC/USD", False, [], [], checksum=0)
    assert KrakenAdapter().sequence(SeqState(last_seq=last), update) is SeqVerdict.APPLY


@pytest.mark.parametrize(
    ("text", "places"), [("1797.30", 2), ("0.00000000", 8), ("93898", 0), ("5.325e-05", 8), ("1E+2", 0)]
)
def test_text_decimals(text: str, places: int) -> None:
    assert book.text_decimals(text) == places


# --- legacy v1 book-1000 streams: the same checksum over 1163 real updates --------------------
class _V1Depth1000(KrakenAdapter):
    depth: ClassVar[int] = 1000  # these captures subscribed depth 1000


def _v1_updates(line: str) -> list[BookUpdate]:
    """v1 frame `[channelID, {"as"/"bs" | "a"/"b", "c"}..., "book-1000", pair]` -> BookUpdates."""
    msg = json.loads(line)
    pair, parts = msg[-1], msg[1:-2]
    out = []
    for part in parts:
        snapshot = "as" in part or "bs" in part

        def lv(key: str) -> list[RawLevel]:
            return [RawLevel(int(Decimal(p) * 10**9), int(Decimal(q) * 10**8), p, q) for p, q, *_ in part.get(key, [])]

        c = part.get("c")
        out.append(
            BookUpdate(
                symbol=pair,
                snapshot=snapshot,
                bids=lv("bs" if snapshot else "b"),
                asks=lv("as" if snapshot else "a"),
                checksum=int(c) if c is not None else None,
            )
        )
    return out  # with both an "a" and a "b" part, only the last one carries "c"


@pytest.mark.parametrize(
    ("name", "pair", "precision", "n_updates"),
    [
        ("ws_v1_book1000_XMR-USD.jsonl", "XMR/USD", (8, 8), 846),
        ("ws_v1_book1000_ETH-CHF.jsonl", "ETH/CHF", (5, 8), 317),
    ],
)
def test_v1_streams_validate_every_checksum(name: str, pair: str, precision: tuple[int, int], n_updates: int) -> None:
    lines = fixture_lines("venues", "kraken", name)
    first = json.loads(lines[0])[1]
    # v1 strings are already padded to the pair precision (SOURCE.md)
    assert (book.text_decimals(first["as"][0][0]), book.text_decimals(first["as"][0][1])) == precision
    adapter = _V1Depth1000(config=KrakenConfig(precisions={pair: precision}))
    sync = BookSync(adapter, pair)
    rebuilt: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}
    checked = 0
    for line in lines:
        for upd in _v1_updates(line):
            result = sync.apply(upd)
            assert result is SyncResult.APPLIED, f"{sync.last_failure} at {line[:120]}"
            checked += upd.checksum is not None
        for part in json.loads(line)[1:-2]:
            _fold(rebuilt, "bids", part.get("bs", part.get("b", [])), 1000)
            _fold(rebuilt, "asks", part.get("as", part.get("a", [])), 1000)
    assert checked == n_updates == len(lines) - 1
    assert sync.failures == 0
    assert sync.book.bids() == _ints(rebuilt, "bids")
    assert sync.book.asks() == _ints(rebuilt, "asks")


def test_v1_stream_with_a_skipped_update_is_caught() -> None:
    lines = fixture_lines("venues", "kraken", "ws_v1_book1000_XMR-USD.jsonl")
    adapter = _V1Depth1000(config=KrakenConfig(precisions={"XMR/USD": (8, 8)}))
    sync = BookSync(adapter, "XMR/USD")
    results = []
    for i, line in enumerate(lines[:60]):
        if i == 10:
            continue  # lost frame
        results += [sync.apply(u) for u in _v1_updates(line)]
    assert SyncResult.CHECKSUM in results[:12]
    assert sync.failures >= 1
