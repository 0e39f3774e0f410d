"""The `crossbook` command line (typer + rich)."""
