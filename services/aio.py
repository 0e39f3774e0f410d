"""Small asyncio helpers shared by every service."""

from __future__ import annotations

import asyncio
import contextlib


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel a task and wait for it to end, re-cancelling if a cancel was swallowed
    (Python 3.11's wait_for can lose one that races with a completing await)."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()
