"""Bitget v2 public market data: `books` (snapshot + updates, seq/pseq, OKX CRC32) and `trade`."""
