"""One step of an integer exponential moving average (the venue scores: RTT, fill rate, slippage)."""

from __future__ import annotations


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

