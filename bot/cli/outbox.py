"""`pingan outbox`: notices that did not (or may not have) reached people, and sending them
again. The rules they follow are in dispatch/outbox.py."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import click

from bot.cli.root import fail, get_settings, main, open_database

if TYPE_CHECKING:
    from dispatch.outbox import Listed


@main.group()
def outbox() -> None:
    """Notices: list the ones not delivered, send failed ones again."""


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "-"  # written "as of" a later time by `jobs run --at`
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def _notes(row: Listed) -> str:
    notes = []
    if row.doubts:
        notes.append(f"in doubt x{row.doubts}: may have arrived twice")
    if row.parts_sent:
        notes.append(f"{row.parts_sent} parts sent")
    if row.urgent:
        notes.append("urgent")
    if row.delay_told is not None:
        notes.append(
            f"late: {row.delay_told} centre dispatchers told"
            if row.delay_told
            else "late: no centre dispatcher reachable on another channel"
        )
    return "; ".join(notes)


@outbox.command("list")
@click.option("--failed", "failed_only", is_flag=True, help="Only failed and in-doubt notices.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 100_000))
def outbox_list(failed_only: bool, as_json: bool, limit: int) -> None:
    """Notices not (cleanly) delivered, newest first: failed, in doubt, waiting, queued, and
    sent ones that may have arrived twice or were late. Ids only, no names or texts."""
    from bot.wallclock import SystemClock
    from dispatch.outbox import listing

    settings = get_settings()
    now = SystemClock().now()

    async def go() -> list[Listed]:
        async with open_database(settings) as db, db.sessions() as session:
            return await listing(session, failed_only=failed_only, limit=limit)

    rows = asyncio.run(go())
    if as_json:
        for row in rows:
            click.echo(
                json.dumps(
                    {
                        "id": row.id,
                        "person": row.person_id,
                        "channel": row.channel,
                        "purpose": row.purpose,
                        "case": row.case_number,
                        "status": row.status,
                        "attempts": row.attempts,
                        "parts_sent": row.parts_sent,
                        "doubts": row.doubts,
                        "urgent": row.urgent,
                        "delay_told": row.delay_told,
                        "last_error": row.last_error,
                        "created_at": _iso(row.created_at),
                        "sent_at": _iso(row.sent_at),
                        "age_seconds": int((now - row.created_at).total_seconds()),
                    },
                    ensure_ascii=False,
                )
            )
        return
    if not rows:
        click.echo("no failed notices" if failed_only else "nothing waiting: every notice sent")
        return
    click.echo(
        f"{'id':>6}  {'person':>6}  {'channel':<8} {'purpose':<16} {'case':<12} "
        f"{'status':<8} {'tries':>5}  {'age':>6}  last error / notes"
    )
    for row in rows:
        about = " | ".join(x for x in (row.last_error or "", _notes(row)) if x) or "-"
        click.echo(
            f"{row.id:>6}  {row.person_id:>6}  {row.channel or '-':<8} {row.purpose:<16} "
            f"{row.case_number or '-':<12} {row.status:<8} {row.attempts:>5}  "
            f"{_age(now - row.created_at):>6}  {about}"
        )


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--failed", "all_failed", is_flag=True, help="Every failed and in-doubt notice.")
def outbox_retry(ids: tuple[int, ...], all_failed: bool) -> None:
    """Send failed or in-doubt notices (by ID, or all with --failed) again, now, with a
    fresh retry horizon. Parts already delivered are not sent again."""
    from dispatch.outbox import RetryResult, retry

    if not ids and not all_failed:
        fail("name the notices to send again (see `pingan outbox list --failed`) or --failed", 2)
    if ids and all_failed:
        fail("give notice ids or --failed, not both", 2)
    settings = get_settings()

    async def go() -> RetryResult:
        async with open_database(settings) as db, db.sessions() as session, session.begin():
            return await retry(session, ids=ids, all_failed=all_failed)

    result = asyncio.run(go())
    for notice_id, why in result.refused.items():
        if why == "unknown":
            click.echo(f"notice {notice_id}: no such notice", err=True)
        elif why == "no reachable channel":
            click.echo(f"notice {notice_id}: the person has no reachable channel", err=True)
        else:
            click.echo(f"notice {notice_id}: not failed (it is {why}); left as it is", err=True)
    click.echo(f"{len(result.queued)} notices queued again" + (":" if result.queued else ""))
    if result.queued:
        click.echo(" ".join(str(i) for i in result.queued))
    if result.refused and not result.queued:
        raise SystemExit(1)
