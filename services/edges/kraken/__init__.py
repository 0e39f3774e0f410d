"""Kraken spot WebSocket v2 market data: book depth 10 with CRC32 checksums, trades."""
