"""Polymarket CLOB market channel: `book` snapshots per token, `price_change` absolute sizes,
`last_trade_price` prints. No sequence numbers and an unpublished book hash: a lost message is
invisible, and every fresh `book` (pushed after trades, or on resubscribe) replaces the book.
"""
