"""Errors of the algo host: only loading raises; callbacks report faults as a `Pause`."""

from __future__ import annotations

from services.errors import CrossbookError


class AlgoRejected(CrossbookError):
    """The module cannot run here (invalid, WASI or unknown imports, missing exports...).

    `reason` is the sentence shown to the user (deploy answer, CLI)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BuildFailed(CrossbookError):
    """The C or WAT source did not compile; `output` is the compiler's message."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message + (f"\n{output}" if output else ""))
        self.output = output
