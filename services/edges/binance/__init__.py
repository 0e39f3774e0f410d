"""Binance spot and USD-M futures market data (one package, two adapters sharing a base)."""
