"""EVM DEX edge: Uniswap V2/V3 pool math, pool-derived books, swap execution over JSON-RPC."""
