"""The trading tests run on both traders: the separate services and the one kernel."""

from __future__ import annotations

import pytest

from tests.stack import TRADERS


@pytest.fixture(params=TRADERS)
def trader(request: pytest.FixtureRequest) -> str:
    return str(request.param)
