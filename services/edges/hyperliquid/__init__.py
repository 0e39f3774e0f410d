"""Hyperliquid perps market data: l2Book full snapshots on every push, trades."""
