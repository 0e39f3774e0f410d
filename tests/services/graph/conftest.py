"""The graph engine's end-to-end tests run on both traders: the separate services and the kernel."""

from __future__ import annotations

import pytest

from tests.stack import TRADERS


@pytest.fixture(params=TRADERS)
def trader(request: pytest.FixtureRequest) -> str:
    return str(request.param)
