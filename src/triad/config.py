"""Settings, read from the environment (prefix ``TRIAD_``).

Everything has a safe default so that ``make run`` works on a fresh machine:
an embedded SQLite database under ``var/``, a secret key generated into
``var/secret_key`` on first use, and mail written to ``var/outbox/``.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAD_", extra="ignore")

    var_dir: Path = Field(default=Path("var"), description="Where the embedded database, key and outbox live.")
    database_url: str | None = Field(default=None, description="Any SQLAlchemy URL; default sqlite in var/.")
    secret_key: str | None = None
    smtp_url: str | None = Field(default=None, description="smtp://[user:pass@]host:port; unset = var/outbox/.")
    mail_from: str = "triad@localhost"
    base_url: str = "http://127.0.0.1:8000"
    max_upload_mb: int = 100
    # Web sessions
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    cookie_secure: bool = True
    # Login throttling: after this many failures the account waits, doubling each time.
    login_free_failures: int = 3
    login_max_delay_seconds: int = 900
    # Idempotency-Key header on POST routes: how long a key (and the response it replays) is kept.
    idempotency_ttl_hours: int = Field(default=24, description="At least 24.")

    @field_validator("idempotency_ttl_hours")
    @classmethod
    def _ttl_at_least_a_day(cls, v: int) -> int:
        if v < 24:
            raise ValueError(f"TRIAD_IDEMPOTENCY_TTL_HOURS must be at least 24 (hours), not {v}: clients retry "
                             "for up to a day and must not be able to repeat a payment after that")
        return v

    @property
    def idempotency_ttl(self) -> dt.timedelta:
        return dt.timedelta(hours=self.idempotency_ttl_hours)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.var_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.var_dir / 'triad.db').resolve()}"

    @property
    def resolved_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if not path.exists():
            self.var_dir.mkdir(parents=True, exist_ok=True)
            # Create the file readable by the owner only, atomically.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip()

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"


@lru_cache
def get_settings() -> Settings:
    return Settings()
