"""Solana on-chain venues: Raydium CPMM and Orca Whirlpool quoting, routing, transactions.

Not a streaming edge (no `adapter.py`, so the registry does not start it): pools are quoted from
account state with the programs' own integer math, and swaps are Solana transactions.
"""
