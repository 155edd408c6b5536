"""Configuration from the environment (pydantic-settings).

Every setting is an environment variable of the same name in upper case
(``DB_URL``, ``JWT_SECRET``, ``SMTP_HOST`` ...); a ``.env`` file in the working
directory is read too.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
from typing import Annotated, Any, Literal

import limits
from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["JWT_SECRET_MIN_BYTES", "IPNetwork", "Settings"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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
    # Read replicas of DB_URL's database (comma-separated URLs): reads outside a unit
    # of work go there. Secret: a URL may carry a password.
    db_replica_urls: Annotated[list[SecretStr], NoDecode] = []
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
    # The original scheme (HMAC of the query string only) can be replayed and
    # reused for another body or method: accepted only when asked for.
    legacy_signatures: bool = False
    # Seen nonces go to Redis when REDIS_URL is set (below), to the database otherwise.
    redis_key_prefix: str = "notification_api:"

    # Fernet keys (comma-separated): the first encrypts, all decrypt.
    secret_keys_encryption_keys: SecretStr | None = None
    # Peers whose X-Forwarded-For is believed (comma-separated CIDRs); none by default.
    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = []
    # Request bodies above this many bytes get 413 before they are read. The default
    # holds the largest notification even with every character JSON-escaped (~0.8 MB).
    max_body_bytes: int = Field(default=1_048_576, gt=0)

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_use_tls: bool = False
    smtp_start_tls: bool = False
    smtp_sender: str = "notification-api@localhost"
    smtp_timeout_seconds: float = 10.0

    webhook_timeout_seconds: float = 5.0
    # Networks webhooks may reach besides public addresses (on-premise receivers,
    # the tests' loopback receiver): CIDRs, comma-separated or a JSON list.
    webhook_allowed_networks: Annotated[
        list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode
    ] = Field(default_factory=list)

    # Rate limits (the ``limits`` library's notation: "10/minute", "5 per 10
    # seconds", several separated by ";"). Login and register count per client
    # address, signed calls per access key; 429 with Retry-After beyond them.
    rate_limit_enabled: bool = True
    rate_limit_login: str = "20/minute"
    rate_limit_register: str = "10/minute"
    rate_limit_signed: str = "600/minute"
    # Where the counts live: in the process by default; in Redis when set (a
    # redis:// or rediss:// URL), shared by every process of the service. The
    # nonces of signed requests go there too.
    redis_url: SecretStr | None = None
    rate_limit_key_prefix: str = "notification_api"

    worker_enabled: bool = True
    worker_poll_seconds: float = 1.0
    worker_batch_size: int = Field(default=10, ge=1)
    # Sends in flight at once, in all and per tenant (account): a slow receiver
    # ties up at most its own tenant's share.
    worker_concurrency: int = Field(default=10, ge=1)
    worker_tenant_concurrency: int = Field(default=3, ge=1)
    worker_lease_seconds: int = 60
    max_attempts: int = 5
    retry_backoff_seconds: float = 2.0
    # Sent and failed notifications are deleted this many days after they were
    # finished (0: kept forever), by the workers every RETENTION_SWEEP_SECONDS,
    # RETENTION_BATCH_SIZE rows per transaction, or by the `cleanup` command.
    notification_retention_days: int = Field(default=30, ge=0)
    retention_sweep_seconds: float = Field(default=300.0, gt=0)
    retention_batch_size: int = Field(default=500, ge=1)

    @field_validator("db_replica_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        if isinstance(value, str):  # one environment variable: "url1,url2"
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _replicas_of_the_primary(self) -> Settings:
        # Named by position and with the password hidden: a URL may hold a secret.
        primary = _backend_of(self.db_url, "DB_URL")
        for number, url in enumerate(self.replica_urls, 1):
            name = f"DB_REPLICA_URLS entry {number}"
            backend = _backend_of(url, name)
            if backend != primary:
                shown = make_url(url).render_as_string(hide_password=True)
                raise ValueError(
                    f"{name} ({shown}) is a {backend} database, but DB_URL is {primary}: a "
                    "read replica must be a copy of DB_URL's database, on the same backend."
                )
        return self

    @field_validator("webhook_allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _password_hash_for_env(self) -> Settings:
        weak = self.password_hash_memory_kib < 19_456 or self.password_hash_time_cost < 2
        if self.api_env == "prod" and weak:
            raise ValueError(
                "API_ENV=prod needs PASSWORD_HASH_MEMORY_KIB >= 19456 and "
                "PASSWORD_HASH_TIME_COST >= 2 (OWASP's minimum for argon2id)."
            )
        return self

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

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated_networks(cls, value: object) -> object:
        # One environment variable, "10.0.0.0/8, 127.0.0.1": a list of networks.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("secret_keys_encryption_keys")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            keys = [part.strip() for part in value.get_secret_value().split(",") if part.strip()]
            if not keys:
                raise ValueError("SECRET_KEYS_ENCRYPTION_KEYS holds no key.")
            for key in keys:
                try:
                    Fernet(key)
                except ValueError:
                    # Never echo the value: it is a secret.
                    raise ValueError(
                        "SECRET_KEYS_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64 "
                        "bytes each, e.g. from Fernet.generate_key()), comma-separated."
                    ) from None
            value = SecretStr(",".join(keys))
        return value

    @model_validator(mode="after")
    def _encryption_keys_for_env(self) -> Settings:
        if self.secret_keys_encryption_keys is not None:
            return self
        if self.api_env == "prod":
            raise ValueError("SECRET_KEYS_ENCRYPTION_KEYS is required when API_ENV=prod.")
        self.secret_keys_encryption_keys = SecretStr(Fernet.generate_key().decode())
        logger.warning(
            "SECRET_KEYS_ENCRYPTION_KEYS is not set: using a generated key (API_ENV=%s); API "
            "keys created now cannot be used after a restart. Set it for anything but local use.",
            self.api_env,
        )
        return self

    @property
    def encryption_keys(self) -> list[str]:
        """The Fernet keys of ``SECRET_KEYS_ENCRYPTION_KEYS``, newest (the encrypting one) first.

        Example:
            >>> key = Fernet.generate_key().decode()
            >>> Settings(api_env="test", jwt_secret="s" * 32,
            ...          secret_keys_encryption_keys=f" {key} ,").encryption_keys == [key]
            True
        """
        assert self.secret_keys_encryption_keys is not None  # set by the validator
        return self.secret_keys_encryption_keys.get_secret_value().split(",")

    @property
    def replica_urls(self) -> list[str]:
        """The URLs of ``DB_REPLICA_URLS`` as plain text (for the engine, never for a log).

        Example:
            >>> Settings(api_env="test", jwt_secret="s" * 32, db_url="postgresql+asyncpg://db/napi",
            ...          db_replica_urls="postgresql+asyncpg://r1/napi, postgresql+asyncpg://r2/napi"
            ...          ).replica_urls
            ['postgresql+asyncpg://r1/napi', 'postgresql+asyncpg://r2/napi']
        """
        return [url.get_secret_value() for url in self.db_replica_urls]

    @property
    def jwt_key(self) -> str:
        """The JWT signing secret as plain text (always set after validation).

        Example:
            >>> Settings(api_env="test", jwt_secret="s" * 32).jwt_key == "s" * 32
            True
        """
        assert self.jwt_secret is not None  # set by the validator
        return self.jwt_secret.get_secret_value()


def _backend_of(url: str, name: str) -> str:
    """The backend of a database URL (``postgresql``, ``mysql``, ``sqlite`` ...)."""
    try:
        return make_url(url).get_backend_name()
    except (ArgumentError, ValueError):  # ValueError: a port that is no number
        # The text is not shown: it may hold a password.
        raise ValueError(
            f"{name} is not a database URL: write it as SQLAlchemy does, "
            "e.g. postgresql+asyncpg://user:password@host:5432/name."
        ) from None
