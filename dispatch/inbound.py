"""A message's bookkeeping around its handling: each platform update once, and the answer
queued in the outbox when it cannot (or must not) go out directly.

Platforms redeliver what they think we did not get: Telegram resends an update until its
webhook answers 200 (for up to 24 hours), WeChat resends a message three times within 15
seconds. `first_sight` records the update's key in `inbound_seen`; done inside the message's
unit of work (Telegram), a crash before the commit leaves no record, so the redelivery is
handled, and a redelivery after the commit finds the record and is not handled again.

`queue_replies` turns replies into outbox rows with purpose "reply": answers to what a person
just wrote, which the sender never holds for quiet hours and retries like notices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import outbox
from dispatch.clock import Clock
from dispatch.messages import Reply
from storage.models import InboundSeen
from storage.upserts import insert_once

MAX_KEY = 128  # inbound_seen.key
REPLY = "reply"  # the outbox purpose of an answer to what a person wrote


async def first_sight(session: AsyncSession, clock: Clock, key: str) -> bool:
    """Record an update as handled in this unit of work; False if it already was.

    One INSERT. On PostgreSQL a concurrent copy of the same update waits here for the first
    one's transaction and then sees its row, so two copies are never both handled.
    """
    table = cast(Table, InboundSeen.__table__)
    return await insert_once(session, table, {"key": key[:MAX_KEY], "at": clock.now()}, key="key")


async def queue_replies(
    session: AsyncSession,
    clock: Clock,
    person_id: int,
    replies: Sequence[Reply],
    *,
    key: str,
    channel: str | None = None,
    chat_ref: str | None = None,
) -> int:
    """Queue `replies` for the person, in order, as purpose "reply"; returns how many were new.

    `key` names the message they answer: queuing the same answer again adds nothing.
    `channel` and `chat_ref`: the chat the message came from (an answer goes back where the
    question was asked, not to the person's most recent channel).
    """
    queued = 0
    for i, reply in enumerate(replies):
        new = await outbox.enqueue(
            session,
            clock,
            person_id,
            reply,
            purpose=REPLY,
            dedupe_key=f"reply:{key}:{i}",
            channel=channel,
            chat_ref=chat_ref,
        )
        queued += new is not None
    return queued
