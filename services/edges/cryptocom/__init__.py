"""Crypto.com Exchange v1 market data: `book.{instrument}.50` (snapshot + deltas, pu chain) and `trade`."""
