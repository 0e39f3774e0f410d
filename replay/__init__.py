"""Replay: export and import of streams, and audit (rebuild a projection from the log, diff it)."""
