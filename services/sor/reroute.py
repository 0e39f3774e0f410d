"""Re-plan what a plan's children left unfilled, without the venues that missed."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from services.sor.config import SorParams
from services.sor.errors import InvalidOrder
from services.sor.model import RoutePlan, VenueBook
from services.sor.optimizer import plan_order

_DEFAULT_PARAMS = SorParams()


def replan_remainder(
    plan: RoutePlan,
    filled_by_venue: Mapping[str, int],
    venues_now: Sequence[VenueBook],
    *,
    params: SorParams = _DEFAULT_PARAMS,
    exclude: Collection[str] = (),
) -> RoutePlan | None:
    """Plan `plan.qty_1e8 - sum(filled)` again on fresh books; None when nothing is left.

    A venue missed when it filled less than its allocation; it and `exclude` are left out.
    The remainder includes the first plan's unroutable part. Side, limit and arrival mid are the
    original plan's, so slippage stays measured against the arrival. `venues_now` must carry the
    current balances (caps): fills already made are not subtracted here.
    """
    for venue, qty in filled_by_venue.items():
        if qty < 0:
            raise InvalidOrder(f"filled_by_venue[{venue!r}] must be >= 0, got {qty}")
    filled = sum(filled_by_venue.values())
    if filled > plan.qty_1e8:
        raise InvalidOrder(f"filled_by_venue sums to {filled}, more than plan qty_1e8={plan.qty_1e8}")
    left = plan.qty_1e8 - filled
    if left == 0:
        return None
    missed = {a.venue for a in plan.allocations if filled_by_venue.get(a.venue, 0) < a.qty_1e8}
    missed.update(exclude)
    return plan_order(
        plan.side,
        left,
        [b for b in venues_now if b.venue not in missed],
        arrival_mid_px_1e9=plan.arrival_mid_px_1e9,
        params=params,
        limit_px_1e9=plan.limit_px_1e9,
    )

