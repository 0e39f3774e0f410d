"""BitMart's documented depth rule (services/edges/bitmart/book.py): version <= local is discarded,
local + 1 applies, anything beyond is a gap."""

from __future__ import annotations

import pytest

from services.edges.bitmart import book
from services.edges.book import RawLevel
from services.edges.venue import BookUpdate, SeqState, SeqVerdict


def _update(version: int | None, empty: bool = False) -> BookUpdate:
    bids = [] if empty else [RawLevel(100_000_000_000, 100_000_000)]
    return BookUpdate("BTC_USDT", False, bids, [], seq=version)


@pytest.mark.parametrize(
    ("last", "version", "verdict"),
    [
        (None, 9, SeqVerdict.APPLY),  # nothing to chain to yet (the sync applies snapshots first)
        (4, 5, SeqVerdict.APPLY),  # 4.2: version == local + 1
        (4, 4, SeqVerdict.SKIP),  # the keep-alive push repeats the version: discard
        (4, 3, SeqVerdict.SKIP),  # 4.1: older than the local book
        (4, 6, SeqVerdict.GAP),  # 4.3: a push was lost
        (4, None, SeqVerdict.GAP),  # a depth push without its version cannot be placed
    ],
)
def test_version_rule(last: int | None, version: int | None, verdict: SeqVerdict) -> None:
    assert book.sequence(SeqState(last_seq=last), _update(version)) is verdict


@pytest.mark.parametrize(("version", "verdict"), [(4, SeqVerdict.SKIP), (5, SeqVerdict.GAP)])
def test_a_keep_alive_ahead_of_us_is_a_gap(version: int, verdict: SeqVerdict) -> None:
    # The keep-alive repeats the venue's last version: one ahead of ours means the push that
    # made that version was lost (applying the empty push would hide the lost levels).
    assert book.sequence(SeqState(last_seq=4), _update(version, empty=True)) is verdict
