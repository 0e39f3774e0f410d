"""OKX v5 public market data: `books` (snapshot + updates, seqId chain, CRC32) and `trades`."""
