"""`crossbook algo …`: WASM algos. deploy/start/stop/status/logs/undeploy talk to the API
(services/cli/algo_deploy.py)."""

from __future__ import annotations

import typer

from services.cli import algo_deploy

app = typer.Typer(no_args_is_help=True, add_completion=False, help="WASM algos: deploy, run, watch.")
algo_deploy.register(app)
