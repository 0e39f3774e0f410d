"""Backtest jobs for the API: run out of the API process, state on disk (survives a restart)."""
