"""Configuration from the environment (pydantic-settings).

Every setting is an environment variable of the same name in upper case
(``DB_URL``, ``JWT_SECRET``, ``SMTP_HOST`` ...); a ``.env`` file in the working
directory is read too.
"""

from __future__ import annotations

import logging
import secrets
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]

logger = logging.getLogger("notification_api")


class Settings(BaseSettings):
    """The service's settings; read once at start-up.

    Example:
        >>> settings = Settings(api_env="test", jwt_secret="x" * 32)
        >>> settings.max_api_keys, settings.db_url.startswith("sqlite+aiosqlite")
        (3, True)
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    api_env: Literal["local", "test", "prod"] = "local"
    db_url: str = "sqlite+aiosqlite:///notification_api.db"
    db_echo: bool = False
    pool_recycle: int = 900
    pool_pre_ping: bool = True
    migrate_on_start: bool = True

    jwt_secret: SecretStr | None = None
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    token_lifetime_minutes: int = 60
    # argon2id cost (argon2-cffi's defaults, RFC 9106's second recommendation). Lower
    # only where hashing speed matters more than resistance (tests); API_ENV=prod
    # refuses less than OWASP's minimum (19 MiB, 2 passes).
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65_536, ge=1024)

    max_api_keys: int = 3
    max_whitelists: int = 10
    timestamp_window_seconds: int = 60

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_use_tls: bool = False
    smtp_start_tls: bool = False
    smtp_sender: str = "notification-api@localhost"
    smtp_timeout_seconds: float = 10.0

    webhook_timeout_seconds: float = 5.0

    worker_enabled: bool = True
    worker_poll_seconds: float = 1.0
    worker_batch_size: int = 10
    worker_lease_seconds: int = 60
    max_attempts: int = 5
    retry_backoff_seconds: float = 2.0

    @model_validator(mode="after")
    def _password_hash_for_env(self) -> Settings:
        weak = self.password_hash_memory_kib < 19_456 or self.password_hash_time_cost < 2
        if self.api_env == "prod" and weak:
            raise ValueError(
                "API_ENV=prod needs PASSWORD_HASH_MEMORY_KIB >= 19456 and "
                "PASSWORD_HASH_TIME_COST >= 2 (OWASP's minimum for argon2id)."
            )
        return self

    @model_validator(mode="after")
    def _jwt_secret_for_env(self) -> Settings:
        if self.jwt_secret is not None:
            return self
        if self.api_env == "prod":
            raise ValueError("JWT_SECRET is required when API_ENV=prod.")
        # The original service hard-coded its secret; a generated one at least
        # differs per process (tokens do not survive a restart, as it warns).
        self.jwt_secret = SecretStr(secrets.token_urlsafe(32))
        logger.warning(
            "JWT_SECRET is not set: using a generated secret (API_ENV=%s); tokens will not "
            "survive a restart. Set JWT_SECRET for anything but local use.",
            self.api_env,
        )
        return self

    @property
    def jwt_key(self) -> str:
        """The JWT signing secret as plain text (always set after validation).

        Example:
            >>> Settings(api_env="test", jwt_secret="s" * 32).jwt_key == "s" * 32
            True
        """
        assert self.jwt_secret is not None  # set by the validator
        return self.jwt_secret.get_secret_value()
