"""Configuration from the environment (pydantic-settings).

Every setting is an environment variable of the same name in upper case
(``DB_URL``, ``JWT_SECRET``, ``SMTP_HOST`` ...); a ``.env`` file in the working
directory is read too.
"""

from __future__ import annotations

import logging
import secrets
from typing import Literal

import limits
from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["JWT_SECRET_MIN_BYTES", "Settings"]

logger = logging.getLogger("notification_api")

#: The shortest ``JWT_SECRET`` accepted in production, per algorithm: the size
#: of the hash's output (RFC 7518, section 3.2), 256 bits for HS256.
JWT_SECRET_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
_GENERATE = "python -c 'import secrets; print(secrets.token_urlsafe({}))'"


class Settings(BaseSettings):
    """The service's settings; read once at start-up.

    Example:
        >>> settings = Settings(api_env="test", jwt_secret="x" * 32)
        >>> settings.max_api_keys, settings.db_url.startswith("sqlite+aiosqlite")
        (3, True)
        >>> Settings(api_env="prod", jwt_secret="x")
        Traceback (most recent call last):
        ...
        pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings
          Value error, JWT_SECRET is too short for API_ENV=prod: 1 bytes, and HS256 needs ...
    """

    # hide_input_in_errors: a refused setting is named, its value (a secret) never shown.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    api_env: Literal["local", "test", "prod"] = "local"
    db_url: str = "sqlite+aiosqlite:///notification_api.db"
    db_echo: bool = False
    pool_recycle: int = 900
    pool_pre_ping: bool = True
    migrate_on_start: bool = True

    jwt_secret: SecretStr | None = None
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    token_lifetime_minutes: int = 60

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

    # Rate limits (the ``limits`` library's notation: "10/minute", "5 per 10
    # seconds", several separated by ";"). Login and register count per client
    # address, signed calls per access key; 429 with Retry-After beyond them.
    rate_limit_enabled: bool = True
    rate_limit_login: str = "20/minute"
    rate_limit_register: str = "10/minute"
    rate_limit_signed: str = "600/minute"
    # Where the counts live: in the process by default; in Redis when set (a
    # redis:// or rediss:// URL), shared by every process of the service.
    redis_url: SecretStr | None = None
    rate_limit_key_prefix: str = "notification_api"

    worker_enabled: bool = True
    worker_poll_seconds: float = 1.0
    worker_batch_size: int = 10
    worker_lease_seconds: int = 60
    max_attempts: int = 5
    retry_backoff_seconds: float = 2.0

    @field_validator("rate_limit_login", "rate_limit_register", "rate_limit_signed")
    @classmethod
    def _rate_limit_notation(cls, value: str) -> str:
        try:
            limits.parse_many(value)
        except ValueError as error:
            raise ValueError(
                f"{value!r} is no rate limit: write e.g. '20/minute' or '5 per 10 seconds' "
                "(several separated by ';')."
            ) from error
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://")):
            raise ValueError("REDIS_URL must start with redis:// or rediss://.")
        return value

    @model_validator(mode="after")
    def _jwt_secret_for_env(self) -> Settings:
        minimum = JWT_SECRET_MIN_BYTES[self.jwt_algorithm]
        generate = _GENERATE.format(minimum)
        if self.jwt_secret is not None:
            length = len(self.jwt_secret.get_secret_value().encode())
            if length >= minimum:
                return self
            # Anyone who guesses a short secret signs tokens for every account.
            if self.api_env == "prod":
                raise ValueError(
                    f"JWT_SECRET is too short for API_ENV=prod: {length} bytes, and "
                    f"{self.jwt_algorithm} needs at least {minimum} ({minimum * 8} bits) of "
                    f"random data. Generate one with: {generate}"
                )
            logger.warning(
                "JWT_SECRET has %d bytes, fewer than the %d that API_ENV=prod requires.",
                length,
                minimum,
            )
            return self
        if self.api_env == "prod":
            raise ValueError(
                f"JWT_SECRET is required when API_ENV=prod. Generate one with: {generate}"
            )
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
