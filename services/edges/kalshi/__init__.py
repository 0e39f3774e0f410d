"""Kalshi market data: `orderbook_delta` (snapshot + signed increments, `seq` per `sid`) and `trade`.

The venue book is the YES book: YES bids are bids, and a NO bid at p is stored as a YES ask at
1 - p (same size). `derive_books` publishes `<TICKER>:YES` as is and `<TICKER>:NO` as its mirror.
"""
