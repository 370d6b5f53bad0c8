"""Wiring the WeChat channel: the API client, the callback, the notice sender, and how a
slow answer reaches the person later (as outbox rows with purpose "reply", sent at once as
customer-service messages, at any hour)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.app import App
from dialogs.router import handle
from dispatch.inbound import queue_replies
from dispatch.messages import Inbound, Reply
from handlers.sender import OutboxSender, Outgoing
from handlers.wechat import WeChatCallback
from handlers.wechat_api import WeChatAPI
from handlers.wechat_transport import WeChatTransport, numbered_choices
from storage.models import Identity


@dataclass(slots=True)
class WeChatChannel:
    api: WeChatAPI
    callback: WeChatCallback
    sender: OutboxSender


def wechat_channel(app: App, quiet: Callable[[datetime], bool] | None) -> WeChatChannel:
    """The WeChat parts. A reply queued for later wakes the sender through the unit of work
    that queued it (storage.database.WAKE), in this process or, by NOTIFY, the worker."""
    settings = app.settings
    services = app.services
    assert settings.wechat_token and settings.wechat_app_id and settings.wechat_app_secret
    api = WeChatAPI(
        services.sessions,
        services.clock,
        settings.wechat_app_id,
        settings.wechat_app_secret.get_secret_value(),
        str(settings.wechat_api_base).rstrip("/"),
    )
    transport = RememberingTransport(WeChatTransport(api, settings.wechat_templates))
    sender = OutboxSender(
        services.sessions,
        services.clock,
        transport,
        default_locale=settings.default_locale,
        quiet=quiet,
        **settings.sender_options(),
    )

    async def send_later(openid: str, replies: list[Reply], locale: str) -> None:
        """Answers that missed the passive reply go out as customer-service messages, in
        order, through the outbox with purpose "reply": they answer what the person just
        wrote, so the sender sends them now, never holding them for quiet hours."""
        async with services.sessions() as session, session.begin():
            person_id = await session.scalar(
                select(Identity.person_id).where(
                    Identity.channel == "wechat", Identity.user_ref == openid
                )
            )
            if person_id is None:
                return
            await queue_replies(
                session,
                services.clock,
                person_id,
                replies,
                key=secrets.token_hex(6),
                channel="wechat",
                chat_ref=openid,
            )

    async def handle_inbound(inbound: Inbound):
        return await handle(services, inbound)

    callback = WeChatCallback(
        token=settings.wechat_token.get_secret_value(),
        app_id=settings.wechat_app_id,
        aes_key=settings.wechat_aes_key.get_secret_value() if settings.wechat_aes_key else None,
        sessions=services.sessions,
        clock=services.clock,
        handle=handle_inbound,
        send_later=send_later,
        allow_plain=settings.wechat_allow_plain,
    )
    transport.callback = callback
    return WeChatChannel(api, callback, sender)


class RememberingTransport:
    """Delivers through WeChat and tells the callback which payloads the numbers of a
    notice stand for, so that "1" in answer to an assignment means its 接单."""

    channel = "wechat"

    def __init__(self, inner: WeChatTransport) -> None:
        self.inner = inner
        self.callback: WeChatCallback | None = None

    async def deliver(self, out: Outgoing) -> str:
        sent = await self.inner.deliver(out)
        _, payloads = numbered_choices(out.reply, out.locale)
        if payloads and self.callback is not None:
            self.callback.remember(out.chat_ref, payloads)
        return sent
