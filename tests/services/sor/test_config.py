"""SorParams is strict."""

from __future__ import annotations

import msgspec
import pytest

from services.errors import ConfigError
from services.sor import SorParams


def test_negative_penalty_is_refused() -> None:
    with pytest.raises(ConfigError, match="latency_penalty_ppm_per_ms must be >= 0, got -1"):
        SorParams(latency_penalty_ppm_per_ms=-1)


def test_unknown_field_is_refused_on_decode() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `latency_ms`"):
        msgspec.json.decode(b'{"latency_ms": 3}', type=SorParams)


def test_decodes_the_penalty() -> None:
    assert msgspec.json.decode(b'{"latency_penalty_ppm_per_ms": 20}', type=SorParams) == SorParams(
        latency_penalty_ppm_per_ms=20
    )
