"""`pingan wechat menu` and `pingan qr`: the WeChat custom menu and 一码通 posters."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli.root import fail, get_settings, main, open_database
from bot.settings import Settings

if TYPE_CHECKING:
    from handlers.wechat_api import WeChatAPI
    from storage.database import Sessions


def _wechat_api(settings: Settings, sessions: Sessions) -> WeChatAPI:
    from bot.wallclock import SystemClock
    from handlers.wechat_api import WeChatAPI

    return WeChatAPI(
        sessions,
        SystemClock(),
        settings.wechat_app_id or "",
        settings.wechat_app_secret.get_secret_value() if settings.wechat_app_secret else "",
        str(settings.wechat_api_base).rstrip("/"),
    )


def _telegram_link(settings: Settings) -> str | None:
    """The bot's deep link with `{grid}` to fill in, from PINGAN_TELEGRAM_BOT_USERNAME (no
    getMe call: posters are made offline), or None when it is not set."""
    if settings.telegram_bot_username is None:
        return None
    return f"https://t.me/{settings.telegram_bot_username}?start=g_{{grid}}"


@main.group()
def wechat() -> None:
    """The WeChat official account."""


@wechat.command("menu")
def wechat_menu_install() -> None:
    """Install the custom menu (我要反映 / 查询进度 / 我的反映 / staff) through the API."""
    from handlers.wechat_api import WeChatAPIError
    from handlers.wechat_menu import wechat_menu

    settings = get_settings()
    if not settings.wechat_enabled:
        fail("set PINGAN_WECHAT_TOKEN, PINGAN_WECHAT_APP_ID and PINGAN_WECHAT_APP_SECRET first", 2)

    async def go() -> None:
        async with open_database(settings) as db:
            api = _wechat_api(settings, db.sessions)
            try:
                await api.create_menu(wechat_menu(settings.default_locale))
            except WeChatAPIError as exc:
                fail(f"WeChat refused the menu: {exc}")
            finally:
                await api.close()
        click.echo("menu installed")

    asyncio.run(go())


@main.command()
@click.option("--grid", "grid_code", default=None, help="One grid's poster.")
@click.option("--all", "every", is_flag=True, help="Every grid's poster.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("posters"))
def qr(grid_code: str | None, every: bool, out: Path) -> None:
    """一码通: printable posters with each grid's WeChat and Telegram QR codes."""
    from dispatch.queries import grid_places
    from handlers.posters import QRCodeRefused, write_posters

    if bool(grid_code) == every:
        fail("give --grid CODE or --all", 2)
    settings = get_settings()

    async def go() -> int:
        async with open_database(settings) as db:
            async with db.sessions() as session:
                grids = await grid_places(session, grid_code)
            if not grids:
                fail(f"no grid {grid_code}" if grid_code else "no grids: import an organisation")
            link = _telegram_link(settings)
            api = _wechat_api(settings, db.sessions) if settings.wechat_enabled else None
            if api is None and link is None:
                fail(
                    "no code to print: set PINGAN_TELEGRAM_BOT_USERNAME (Telegram) or"
                    " PINGAN_WECHAT_TOKEN, PINGAN_WECHAT_APP_ID and PINGAN_WECHAT_APP_SECRET"
                    " (WeChat)",
                    2,
                )
            if link is None and settings.telegram_token is not None:
                click.echo(
                    "warning: PINGAN_TELEGRAM_BOT_USERNAME is not set: posters without the"
                    " Telegram code",
                    err=True,
                )
            try:
                return await write_posters(
                    grids, out, settings.default_locale, wechat=api, telegram_link=link
                )
            except QRCodeRefused as exc:
                fail(f"WeChat refused the QR code for {exc.grid_code}: {exc.error}")
            finally:
                if api is not None:
                    await api.close()

    made = asyncio.run(go())
    click.echo(f"{made} poster(s) in {out}/")
