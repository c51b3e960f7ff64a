"""Custody settings: CONSORTIA_CUSTODY_* environment variables override the defaults."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CustodyConfig(BaseSettings):
    """Every limit of the custodial wallet, with its unit in its name."""

    model_config = SettingsConfigDict(env_prefix="CONSORTIA_CUSTODY_", extra="forbid")

    # A session ends after this long without a request, and after session_ttl_s in any case.
    session_idle_ttl_s: int = Field(default=30 * 60, ge=1)
    session_ttl_s: int = Field(default=12 * 3600, ge=1)
    # Logging in once more than this ends the user's oldest session.
    sessions_per_user_max: int = Field(default=5, ge=1)
    # Every failed login waits this long, so guessing costs time as well as argon2 work.
    login_failure_delay_ms: int = Field(default=400, ge=0)
    password_chars_min: int = Field(default=8, ge=8)
    # argon2 hashes whatever it is given: a bound keeps one login from costing a lot of memory.
    password_chars_max: int = Field(default=256, ge=16)
    users_max: int = Field(default=1_000_000, ge=1)
    # Wanted page sizes and bounds of what a page or an export reads from the ledger.
    history_page_entries: int = Field(default=20, ge=1)
    desk_page_wallets: int = Field(default=25, ge=1)
    statement_csv_rows_max: int = Field(default=10_000, ge=1)
    form_bytes_max: int = Field(default=16 * 1024, ge=1024)
    # How long a page waits for the tx it submitted to be executed.
    commit_wait_s: float = Field(default=10.0, gt=0)
