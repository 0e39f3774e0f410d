"""Router settings (strict: unknown fields are refused)."""

from __future__ import annotations

import msgspec

from services.errors import ConfigError


class SorParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Global cost-model knobs.

    `latency_penalty_ppm_per_ms`: adverse-selection charge, in ppm of notional per millisecond of
    a venue's estimated round trip. A venue 3 ms away with 20 ppm/ms costs 60 ppm (0.6 bp) extra.
    """

    latency_penalty_ppm_per_ms: int = 0

    def __post_init__(self) -> None:
        if self.latency_penalty_ppm_per_ms < 0:
            raise ConfigError(
                f"latency_penalty_ppm_per_ms must be >= 0, got {self.latency_penalty_ppm_per_ms}"
            )
