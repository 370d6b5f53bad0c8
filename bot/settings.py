"""Typed configuration from the environment (prefix PINGAN_) and `.env`."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from storage.database import normalise_url

LOCALES = ("zh_CN", "en")
# Telegram's rule for the secret_token header: 1-256 characters, A-Z a-z 0-9 _ -.
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_BOT_TOKEN = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,}$")
# A bot's @username: 5-32 letters, digits and _, ending in "bot" (Telegram's rule).
_BOT_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{1,28}[Bb][Oo][Tt]$")
# Compared in lower case.
_PLACEHOLDERS = {"changeme", "change-me", "your-token-here", "123456:abc-def"}
_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


def data_dir() -> Path:
    """Where `pingan` keeps its data when nothing says otherwise: a per-user folder
    ($XDG_DATA_HOME/pingan, else ~/.local/share/pingan), the same whatever the current
    directory, so that `pingan chat` finds the database `pingan init` made."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser().absolute() / "pingan"


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{data_dir() / 'pingan.db'}"


class SettingsError(Exception):
    """One clear line naming the variable; `pingan` prints it and exits."""


class SenderOptions(TypedDict):
    retry_horizon: timedelta
    urgent_delay: timedelta
    lease: timedelta


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PINGAN_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # `PINGAN_PUBLIC_URL=` (left empty, as templates do) means "not set", not "invalid".
        env_ignore_empty=True,
    )

    database_url: str = Field(default_factory=default_database_url)
    telegram_token: SecretStr | None = None
    telegram_api_base: AnyHttpUrl = AnyHttpUrl("https://api.telegram.org")
    # The bot's @username, for the t.me links on `pingan qr` posters (no network needed).
    telegram_bot_username: str | None = None
    public_url: AnyHttpUrl | None = None
    telegram_webhook_secret: SecretStr | None = None
    http_host: str = "127.0.0.1"
    http_port: Annotated[int, Field(ge=1, le=65535)] = 8080
    wechat_token: SecretStr | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: SecretStr | None = None
    wechat_aes_key: SecretStr | None = None
    # Plain mode (no AES key) signs no message body: refused unless explicitly allowed.
    wechat_allow_plain: bool = False
    wechat_api_base: AnyHttpUrl = AnyHttpUrl("https://api.weixin.qq.com")
    # Notice purpose → template id, for people outside WeChat's 48-hour window, as JSON:
    # {"offer": "TEMPLATE_ID", "accepted": "...", "closed": "...", "digest": "..."}
    wechat_templates: dict[str, str] = {}
    timezone: str = "Asia/Shanghai"
    default_locale: str = "zh_CN"
    # Notices (dispatch/outbox.py): how long network trouble and 5xx are retried after a
    # notice's first failed try before it is failed (and listed by `pingan outbox list`);
    # how long an urgent notice may be late before its case's centre dispatchers are told
    # on another channel; how long a sender holds a notice it is sending (a dead sender's
    # notice is taken back after this).
    outbox_retry_horizon_hours: Annotated[float, Field(gt=0)] = 24
    outbox_urgent_delay_minutes: Annotated[float, Field(gt=0)] = 10
    outbox_lease_seconds: Annotated[float, Field(ge=5, le=3600)] = 120
    # Inbound limits (dispatch/limits.py). Messages a person may send a minute (staff:
    # STAFF_FACTOR times as many), counted in each process; reports a citizen may file in
    # 24 hours before the next is held for the centre's confirmation (counted in the
    # database, so across workers). 0 turns a limit off.
    messages_per_minute: Annotated[int, Field(ge=0, le=10_000)] = 20
    reports_per_day: Annotated[int, Field(ge=0, le=1000)] = 3

    @field_validator("database_url")
    @classmethod
    def _database_supported(cls, value: str) -> str:
        try:
            driver = make_url(normalise_url(value)).drivername
        except (ArgumentError, ValueError):
            driver = None
        if driver not in _DRIVERS:
            raise ValueError(
                "is not a supported database URL (use sqlite+aiosqlite:///./var/pingan.db"
                " or postgresql+asyncpg://user:pass@127.0.0.1:5432/pingan)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("default_locale")
    @classmethod
    def _locale_known(cls, value: str) -> str:
        if value not in LOCALES:
            raise ValueError(f"must be one of {', '.join(LOCALES)}")
        return value

    @field_validator("telegram_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        token = value.get_secret_value()
        if token.lower() in _PLACEHOLDERS:
            raise ValueError("is still the placeholder from .env.example")
        if not _BOT_TOKEN.match(token):
            raise ValueError("does not look like a bot token from @BotFather (123456789:AA...)")
        return value

    @field_validator("telegram_bot_username")
    @classmethod
    def _username_shape(cls, value: str | None) -> str | None:
        if value is None or not value.strip().lstrip("@"):
            return None
        name = value.strip().lstrip("@")
        if not _BOT_USERNAME.match(name):
            raise ValueError("is not a bot's username (5-32 letters, digits or _, ending in bot)")
        return name

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not _SECRET_TOKEN.match(value.get_secret_value()):
            raise ValueError("may hold only A-Z, a-z, 0-9, _ and -, at most 256 characters")
        return value

    @field_validator("wechat_aes_key")
    @classmethod
    def _aes_key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        # WeChat's EncodingAESKey: 43 characters of base64 (a 32-byte key without padding).
        if not re.fullmatch(r"[A-Za-z0-9+/]{43}", value.get_secret_value()):
            raise ValueError("must be the 43-character EncodingAESKey from the WeChat console")
        return value

    @property
    def wechat_enabled(self) -> bool:
        return bool(self.wechat_token and self.wechat_app_id and self.wechat_app_secret)

    @property
    def sqlite_file(self) -> Path | None:
        """The database file when the database is SQLite on a file, else None."""
        url = make_url(normalise_url(self.database_url))
        if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
            return Path(url.database).absolute()
        return None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def sender_options(self) -> SenderOptions:
        """The outbox sender's timings (keyword arguments of handlers.sender.OutboxSender)."""
        return {
            "retry_horizon": timedelta(hours=self.outbox_retry_horizon_hours),
            "urgent_delay": timedelta(minutes=self.outbox_urgent_delay_minutes),
            "lease": timedelta(seconds=self.outbox_lease_seconds),
        }

    def require_channel(self) -> None:
        """At least one chat channel must be configured for `pingan run`."""
        if self.wechat_enabled:
            self.require_wechat_safe()
            if self.telegram_token is not None:
                self.require_telegram()
            return
        self.require_telegram()

    def require_wechat_safe(self) -> None:
        """WeChat without an AES key is plain mode, refused unless explicitly allowed."""
        if self.wechat_aes_key is None and not self.wechat_allow_plain:
            raise SettingsError(
                "PINGAN_WECHAT_AES_KEY is not set: WeChat's plain mode signs no message body,"
                " so a captured request lets anyone post as anyone; use safe mode (安全模式)"
                " with its EncodingAESKey, or set PINGAN_WECHAT_ALLOW_PLAIN=true to accept"
                " plain mode anyway"
            )

    def require_telegram(self) -> SecretStr:
        if self.telegram_token is None:
            raise SettingsError(
                "PINGAN_TELEGRAM_TOKEN is not set: get a token from @BotFather and put it in .env"
                " (or try `pingan chat`, which needs no token)"
            )
        if self.public_url is not None and self.telegram_webhook_secret is None:
            raise SettingsError(
                "PINGAN_TELEGRAM_WEBHOOK_SECRET is not set: webhook mode (PINGAN_PUBLIC_URL)"
                " needs a secret so that only Telegram can post updates"
            )
        return self.telegram_token


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"PINGAN_{field.upper()} {message}") from None
