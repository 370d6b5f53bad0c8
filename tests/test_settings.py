"""Configuration: defaults, one clear line per mistake, and what `pingan run` prints for it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]
VARIABLES = tuple(f"PINGAN_{name.upper()}" for name in Settings.model_fields)
TOKEN = "123456789:AAHfake-token_for_tests_0123456789"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No PINGAN_ variable from the developer's shell, and no .env from the checkout."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings()
    # A per-user file, whatever the current directory.
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/data/pingan/pingan.db"
    assert settings.telegram_token is None
    assert str(settings.telegram_api_base).rstrip("/") == "https://api.telegram.org"
    assert settings.public_url is None
    assert settings.telegram_webhook_secret is None
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert settings.timezone == "Asia/Shanghai"
    assert settings.zone.key == "Asia/Shanghai"
    assert settings.default_locale == "zh_CN"


def test_environment_overrides_dot_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "PINGAN_HTTP_PORT=9000\nPINGAN_DEFAULT_LOCALE=en\n", encoding="utf-8"
    )
    monkeypatch.setenv("PINGAN_HTTP_PORT", "9100")
    settings = load_settings()
    assert settings.http_port == 9100  # the environment wins
    assert settings.default_locale == "en"  # .env fills in the rest


@pytest.mark.parametrize(
    "variable", ["PINGAN_PUBLIC_URL", "PINGAN_TELEGRAM_TOKEN", "PINGAN_DATABASE_URL"]
)
def test_an_empty_value_means_not_set(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    defaults = load_settings()
    monkeypatch.setenv(variable, "")
    assert load_settings() == defaults


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("PINGAN_HTTP_PORT", "abc", "integer"),
        ("PINGAN_HTTP_PORT", "70000", "65535"),
        ("PINGAN_HTTP_PORT", "0", "greater than"),
        ("PINGAN_TIMEZONE", "Mars/Base", "Mars/Base"),
        ("PINGAN_DEFAULT_LOCALE", "fr", "zh_CN, en"),
        ("PINGAN_TELEGRAM_TOKEN", "notatoken", "@BotFather"),
        ("PINGAN_TELEGRAM_TOKEN", "123456:ABC-DEF", "placeholder"),
        ("PINGAN_TELEGRAM_TOKEN", "changeme", "placeholder"),
        ("PINGAN_PUBLIC_URL", "not a url", "URL"),
        ("PINGAN_TELEGRAM_API_BASE", "ftp://files.example.org", "http"),
        ("PINGAN_TELEGRAM_WEBHOOK_SECRET", "s3cret with spaces!", "A-Z"),
        ("PINGAN_TELEGRAM_WEBHOOK_SECRET", "x" * 257, "256"),
        ("PINGAN_DATABASE_URL", "not a url", "postgresql+asyncpg://"),
        ("PINGAN_DATABASE_URL", "mysql://pingan:hunter2@db/pingan", "sqlite+aiosqlite://"),
    ],
)
def test_a_malformed_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{variable} "), message
    assert "\n" not in message
    assert says in message
    if variable in ("PINGAN_TELEGRAM_TOKEN", "PINGAN_TELEGRAM_WEBHOOK_SECRET"):
        assert value not in message  # secrets are not echoed into logs
    assert "hunter2" not in message


def test_the_same_mistake_in_dot_env_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PINGAN_HTTP_PORT=eighty\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"^PINGAN_HTTP_PORT "):
        load_settings()


def test_require_telegram_without_token_suggests_chat() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings().require_telegram()
    message = str(caught.value)
    assert message.startswith("PINGAN_TELEGRAM_TOKEN ")
    assert "\n" not in message
    assert "pingan chat" in message


def test_webhook_mode_requires_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINGAN_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("PINGAN_PUBLIC_URL", "https://pingan.example.org")
    with pytest.raises(SettingsError) as caught:
        load_settings().require_telegram()
    assert str(caught.value).startswith("PINGAN_TELEGRAM_WEBHOOK_SECRET ")
    assert "\n" not in str(caught.value)

    monkeypatch.setenv("PINGAN_TELEGRAM_WEBHOOK_SECRET", "a_Good-secret9")
    assert load_settings().require_telegram().get_secret_value() == TOKEN


def test_polling_mode_needs_only_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINGAN_TELEGRAM_TOKEN", TOKEN)
    settings = load_settings()
    assert settings.require_telegram().get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)  # printing the settings does not leak the token


# .env.example --------------------------------------------------------------------------------


def test_env_example_documents_every_setting() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for variable in VARIABLES:
        assert f"{variable}=" in example, f"{variable} is missing from .env.example"


def test_env_example_copied_to_dot_env_works_without_a_token(tmp_path: Path) -> None:
    defaults = load_settings()
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    settings = load_settings()
    assert settings == defaults
    with pytest.raises(SettingsError, match=r"^PINGAN_TELEGRAM_TOKEN is not set"):
        settings.require_telegram()


# through the command line --------------------------------------------------------------------


def _pingan(
    tmp_path: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """`pingan ARGS` in tmp_path, with only the PINGAN_ variables given (and tmp_path/.env)."""
    script = Path(sys.executable).with_name("pingan")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PINGAN_")}
    return subprocess.run(
        [*command, *args],
        cwd=tmp_path,
        env={**clean, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_env_example_as_dot_env_is_enough_for_pingan_chat(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    data = {"XDG_DATA_HOME": str(tmp_path / "data")}
    init = _pingan(tmp_path, "init", "--demo", **data)
    assert init.returncode == 0, init.stderr
    # The default database: a per-user file, not the current directory's.
    database = tmp_path / "data" / "pingan" / "pingan.db"
    assert database.exists() and str(database) in init.stdout
    assert not (tmp_path / "var").exists()

    # From another directory, chat finds the same database.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(tmp_path / ".env", elsewhere / ".env")
    chat = _pingan(elsewhere, "chat", "--as", "mediator", stdin="/whoami\n", **data)
    assert chat.returncode == 0, chat.stderr
    assert "岩温" in chat.stdout  # the demo's mediator, made by init

    chat = _pingan(tmp_path, "chat", "--user", "tester", stdin="/whoami\n", **data)
    assert chat.returncode == 0, chat.stderr
    banner, answer = chat.stdout.split("\n", 1)
    assert "pingan chat as 'tester'" in banner
    assert "[1] " in answer  # the bot answered /start with its numbered menu
    assert "Traceback" not in chat.stderr


@pytest.mark.parametrize(
    ("env", "starts"),
    [
        ({"PINGAN_HTTP_PORT": "abc"}, "error: PINGAN_HTTP_PORT "),
        ({}, "error: PINGAN_TELEGRAM_TOKEN is not set"),
        (
            {"PINGAN_TELEGRAM_TOKEN": TOKEN, "PINGAN_PUBLIC_URL": "https://pingan.example.org"},
            "error: PINGAN_TELEGRAM_WEBHOOK_SECRET ",
        ),
    ],
    ids=["bad-port", "no-token", "webhook-without-secret"],
)
def test_pingan_run_with_bad_settings_prints_one_line(
    tmp_path: Path, env: dict[str, str], starts: str
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path}/cli.db"
    done = _pingan(tmp_path, "run", PINGAN_DATABASE_URL=database, **env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(starts)
    assert done.stdout == ""
