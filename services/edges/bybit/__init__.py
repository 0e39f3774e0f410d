"""Bybit v5 public market data: `orderbook.50` (snapshot + deltas, `u` chain) and `publicTrade`.

One package, two adapters: `bybit` (spot socket) and `bybit_linear` (USDT perps socket).
"""
