from __future__ import annotations

import pytest

from tests.stack import TRADERS


@pytest.fixture(params=TRADERS)
def trader(request: pytest.FixtureRequest) -> str:
    """Live trading through the API runs on both traders: the services router and the kernel
    route live graphs alike (only to venues the tenant has credentials for)."""
    return str(request.param)
