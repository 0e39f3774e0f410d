"""Price a child order: a marketable IOC limit that fills the allocation and no worse."""

from __future__ import annotations

from services.sor.errors import InvalidOrder
from services.sor.model import Side


def marketable_limit_px(
    side: Side, worst_px_1e9: int, tick_1e9: int, *, collar_ppm: int = 0, limit_px_1e9: int | None = None
) -> int:
    """Return the child's limit: `worst_px_1e9` widened by `collar_ppm`, on the venue's tick.

    The collar lets the child still fill if the book moved a little; rounding to the tick goes
    toward `worst_px_1e9` (never past the collar), and the user's limit, on tick, always wins.
    """
    if tick_1e9 < 1 or collar_ppm < 0 or worst_px_1e9 <= 0:
        raise InvalidOrder(
            f"need tick_1e9 >= 1, collar_ppm >= 0, worst_px_1e9 > 0; got {tick_1e9}, {collar_ppm}, {worst_px_1e9}"
        )
    if side == "buy":
        raw = worst_px_1e9 * (1_000_000 + collar_ppm) // 1_000_000
        px = max(raw - raw % tick_1e9, -(-worst_px_1e9 // tick_1e9) * tick_1e9)
        if limit_px_1e9 is not None:
            px = min(px, limit_px_1e9 - limit_px_1e9 % tick_1e9)
        return px
    raw = -(-worst_px_1e9 * (1_000_000 - collar_ppm) // 1_000_000)
    px = min(-(-raw // tick_1e9) * tick_1e9, worst_px_1e9 - worst_px_1e9 % tick_1e9)
    if limit_px_1e9 is not None:
        px = max(px, -(-limit_px_1e9 // tick_1e9) * tick_1e9)
    return px
