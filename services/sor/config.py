"""Router settings (strict: unknown fields are refused)."""

from __future__ import annotations

import msgspec

from services.errors import ConfigError


class SorParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Global cost-model knobs.

    `latency_penalty_ppm_per_ms`: adverse-selection charge, in ppm of notional per millisecond of
    a venue's estimated round trip. A venue 3 ms away with 20 ppm/ms costs 60 ppm (0.6 bp) extra.
    `unfilled_penalty_ppm`: what a unit a venue leaves unfilled is expected to cost when it is
    routed again (the market moves away meanwhile), in ppm of notional. It only applies to venues
    with a scored fill rate: at 1_000 ppm a venue filling 80% costs 200 ppm (2 bp) extra.
    """

    latency_penalty_ppm_per_ms: int = 0
    unfilled_penalty_ppm: int = 1_000

    def __post_init__(self) -> None:
        if self.latency_penalty_ppm_per_ms < 0:
            raise ConfigError(
                f"latency_penalty_ppm_per_ms must be >= 0, got {self.latency_penalty_ppm_per_ms}"
            )
        if self.unfilled_penalty_ppm < 0:
            raise ConfigError(f"unfilled_penalty_ppm must be >= 0, got {self.unfilled_penalty_ppm}")


# What the router process plans with; previews and forecasts use the same cost model. They plan
# without the TCA's venue scores (the router's alone), so on a scored venue an order's plan can
# differ from its preview by the score penalty.
ROUTER_PARAMS = SorParams(latency_penalty_ppm_per_ms=5)
