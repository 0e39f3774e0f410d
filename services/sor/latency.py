"""Per-venue round-trip estimate: an exponential moving average in integer nanoseconds."""

from __future__ import annotations

import msgspec

from services.sor.errors import SorError


class EmaLatency(msgspec.Struct, frozen=True, kw_only=True):
    """EMA of measured RTTs: ema += (sample - ema) * alpha_num / alpha_den (default 1/8, as TCP).

    A value, not a mutable counter: `update` returns the next state, so a projection can fold it
    over `VenueStatusChanged.rtt_ns`. The first sample seeds the average. The step rounds away
    from zero (at least 1 ns toward the sample) so a steady RTT is reached exactly, not 4 ns off.
    """

    alpha_num: int = 1
    alpha_den: int = 8
    ema_ns: int | None = None
    samples: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha_num <= self.alpha_den:
            raise SorError(
                f"alpha must be in (0, 1], got alpha_num={self.alpha_num} alpha_den={self.alpha_den}"
            )

    def update(self, sample_ns: int) -> EmaLatency:
        """Return the state after one RTT sample (ns, >= 0)."""
        if sample_ns < 0:
            raise SorError(f"sample_ns must be >= 0, got {sample_ns}")
        if self.ema_ns is None:
            ema = sample_ns
        else:
            diff = (sample_ns - self.ema_ns) * self.alpha_num
            # Ceil for a rise, floor for a fall: both round away from zero.
            step = -(-diff // self.alpha_den) if diff >= 0 else diff // self.alpha_den
            ema = self.ema_ns + step
        return EmaLatency(alpha_num=self.alpha_num, alpha_den=self.alpha_den, ema_ns=ema, samples=self.samples + 1)

    def latency_ns(self, default_ns: int) -> int:
        """Return the estimate, or `default_ns` before the first sample."""
        return default_ns if self.ema_ns is None else self.ema_ns
