"""Coinbase Advanced Trade market data: level2 books (connection-wide sequence_num), trades, heartbeats."""
