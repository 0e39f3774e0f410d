"""Process settings from `CROSSBOOK_*` environment variables (and `.env`), read once at start.

The embedded defaults need nothing installed beyond `make`: a project-local nats-server on
127.0.0.1:4250, SQLite read models under `.data/`, simulated venues.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CROSSBOOK_", env_file=".env", extra="ignore", frozen=True)

    data_dir: Path = PROJECT_ROOT / ".data"
    # Empty = start our own nats-server on nats_port; a URL = use that server. Several URLs,
    # comma-separated, name a cluster's nodes (`tls://` ones verify the data dir's CA).
    nats_url: str = ""
    nats_port: int = 4250
    # Connect as this process's NATS user with its seed from <data_dir>/nats-creds (made by
    # `crossbook up`); `crossbook natsd` requires these users. 0 = an open server, no users.
    nats_auth: bool = True
    nats_tls_ca: Path | None = None  # default: <data_dir>/nats-tls/ca.pem
    # Replicas of the streams streams.json leaves to the deployment (3 on the 3-node cluster).
    stream_replicas: int = Field(default=1, ge=1, le=5)
    # The region this process runs in on the three-region supercluster (nats/regions/layout.json:
    # na, eu, ap); empty = one region, no gateways. Selects the region's NATS account (its own
    # users' seeds), the placement of its streams and the RTT the router adds to remote venues.
    region: str = ""
    # Empty = SQLite file under data_dir; "postgresql://user@host:port/db" = PostgreSQL.
    database_url: str = ""
    api_host: str = "127.0.0.1"
    api_port: int = 8700
    md_max_age_s: int = 3600
    md_max_bytes: int = 1 << 30
    # The LEDGER stream's dedup window; finished graphs also leave every process's memory that long
    # after they end (projections/retention.py).
    dedup_window_s: int = Field(default=120, ge=1)
    ack_wait_s: float = 5.0
    nbbo_tick_ms: int = Field(default=25, ge=0)
    # Requests per second per account (bucket = 2 x qps); self-hosted default is generous, 0 = off.
    rate_limit_qps: float = Field(default=500.0, ge=0)
    master_key: SecretStr = SecretStr("")
    sim_seed: int = 7
    # "sim" = edges connect to the local venue servers (embedded default); "live" = real venues.
    market: str = "sim"
    sim_base_port: int = 9100
    sim_tick_ms: int = 100
    # Children of live (non-sandbox) orders go to the real venues only when this is on; the
    # order REST host is CROSSBOOK_<VENUE>_REST_URL or the venue's own.
    live_orders: bool = False
    live_poll_ms: int = Field(default=1000, ge=10)
    # The API takes orders only while the trader's graph engine, router and sandbox announce
    # readiness (services/readiness.py). Off only where the trader's parts run in-process
    # without announcing (most tests).
    require_trader_ready: bool = True
    # How `crossbook trader` runs: "services" = the graph engine, router, sandbox executor and
    # TCA as separate asyncio services (one per process with `--role`); "kernel" = the one
    # synchronous kernel on JetStream (services/kernel/jetstream.py), opt-in until it folds the
    # tenants' venue credentials for live routing.
    trader: Literal["services", "kernel"] = "services"

    @property
    def effective_nats_url(self) -> str:
        return self.nats_url or f"nats://127.0.0.1:{self.nats_port}"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "views.sqlite"


def load_settings() -> Settings:
    return Settings()
