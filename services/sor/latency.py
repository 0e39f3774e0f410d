"""Per-venue round-trip estimate: an exponential moving average in integer nanoseconds."""

from __future__ import annotations

import msgspec

from services.sor.errors import SorError


def ema_step(ema: int | None, sample: int, alpha_num: int, alpha_den: int) -> int:
    """Return the integer EMA after one sample: the first seeds it, then it moves alpha of the gap.

    The step rounds away from zero (at least 1 toward the sample) so a steady input is reached
    exactly. Any sign of sample works; alpha is alpha_num / alpha_den in (0, 1].
    """
    if ema is None:
        return sample
    diff = (sample - ema) * alpha_num
    # Ceil for a rise, floor for a fall: both round away from zero.
    return ema + (-(-diff // alpha_den) if diff >= 0 else diff // alpha_den)


class EmaLatency(msgspec.Struct, frozen=True, kw_only=True):
    """EMA of measured RTTs: ema += (sample - ema) * alpha_num / alpha_den (default 1/8, as TCP).

    A value, not a mutable counter: `update` returns the next state, so a projection can fold it
    over `VenueStatusChanged.rtt_ns`. Steps as `ema_step` (a steady RTT is reached exactly).
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
        ema = ema_step(self.ema_ns, sample_ns, self.alpha_num, self.alpha_den)
        return EmaLatency(alpha_num=self.alpha_num, alpha_den=self.alpha_den, ema_ns=ema, samples=self.samples + 1)

    def latency_ns(self, default_ns: int) -> int:
        """Return the estimate, or `default_ns` before the first sample."""
        return default_ns if self.ema_ns is None else self.ema_ns
