"""OKX book integrity, pure: the seqId chain and the top-25 CRC32 (Bitget reuses the checksum).

venues.md §5: a snapshot has prevSeqId -1; each update's prevSeqId must equal the last seqId
(seqId == prevSeqId means "no change" and is still valid). The checksum is the signed CRC32 of
`bid1px:bid1sz:ask1px:ask1sz:...` over the top 25 levels, built from the exact wire strings.
"""

from __future__ import annotations

import zlib

from services.edges.book import L2Book
from services.edges.venue import BookUpdate, SeqState, SeqVerdict

CHECKSUM_DEPTH = 25


def checksum_text(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> str:
    """Interleave bids and asks best-first; when one side runs out, continue with the other."""
    parts: list[str] = []
    for i in range(max(len(bids), len(asks))):
        if i < len(bids):
            parts += bids[i]
        if i < len(asks):
            parts += asks[i]
    return ":".join(parts)


def crc32_signed(text: str) -> int:
    value = zlib.crc32(text.encode())
    return value - (1 << 32) if value & 0x8000_0000 else value


def book_checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """Return the OKX checksum of (px text, size text) levels, best-first; only the top 25 count."""
    return crc32_signed(checksum_text(bids[:CHECKSUM_DEPTH], asks[:CHECKSUM_DEPTH]))


def checksum_ok(book: L2Book, update: BookUpdate) -> bool:
    """Check the venue checksum against the book after `update`; 0 or absent = not sent."""
    if not update.checksum:
        return True
    return book_checksum(book.raw_bids(CHECKSUM_DEPTH), book.raw_asks(CHECKSUM_DEPTH)) == update.checksum


def sequence(state: SeqState, update: BookUpdate) -> SeqVerdict:
    """Apply an update whose prevSeqId chains to the last seqId; anything else is a gap.

    There is no SKIP: OKX may reset seqId lower after maintenance, so "older" cannot be
    told from "reset with a lost message". Frames without seqIds (pre-2023) rely on the checksum.
    """
    if update.prev_seq is None or state.last_seq is None:
        return SeqVerdict.APPLY
    return SeqVerdict.APPLY if update.prev_seq == state.last_seq else SeqVerdict.GAP
