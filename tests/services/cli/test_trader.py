"""`crossbook trader --role`: an unknown role is refused before anything connects."""

from __future__ import annotations

from typer.testing import CliRunner

from services.cli.main import app


def test_an_unknown_trader_role_is_refused_with_the_known_ones() -> None:
    result = CliRunner().invoke(app, ["trader", "--role", "risk"])
    assert result.exit_code == 1
    assert "unknown trader role 'risk'; known: graph, router, sandbox, tca," in result.output
