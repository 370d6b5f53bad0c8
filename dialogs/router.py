"""One handled message: who is writing, which dialog they are in, what we answer.

`handle()` is the whole entry point for every channel. It runs one unit of work per
message: the person's dialog state, any case change and the notices it causes are
committed together, and the replies are returned for the adapter to render.

Commands, buttons and dialogs are declared in the command modules (dialogs/commands/),
grouped by who uses them; this module includes them, checks a command's roles once, and
routes each message:

1. a text in reply to one of our offer notices answers the offer;
2. a command (`/name`, or its typed word) runs, if the person's role may run it;
3. a button that works anywhere (menu, navigation, case actions, follow-up) is handled;
4. anything else inside a dialog answers the dialog's question;
5. outside a dialog, a description starts a report, 接单/退回 answer staff's latest offer,
   and anything else gets the menu.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from dialogs import conversation
from dialogs.base import Answer, Services, Turn
from dialogs.commands import ButtonHandler, Command, citizen, grids, keypersons, leader, staff
from dialogs.conversation import ask, ask_again, back, cancel, keyboard_shown, live_state, step
from dialogs.menu import MENU_COMMANDS, main_menu
from dialogs.roles import is_staff
from dialogs.steps import label_words
from dispatch import outbox
from dispatch.inbound import first_sight, queue_replies
from dispatch.limits import Verdict
from dispatch.messages import Inbound, Reply
from dispatch.payloads import Menu, Nav, Payload, StepChoice, parse
from dispatch.people import person_for
from locales import pick_locale
from storage.models import DialogState

log = logging.getLogger(__name__)

MAX_INBOUND = 5000  # longer than any answer we ask for; cut before it reaches a step

FEATURES = (
    citizen.feature,
    staff.feature,
    leader.feature,
    keypersons.feature,
    grids.feature,
)


def _commands() -> dict[str, Command]:
    found: dict[str, Command] = {}
    for feature in FEATURES:
        for command in feature.commands:
            if found.setdefault(command.name, command) is not command:
                raise ValueError(f"/{command.name} is registered twice")
    return found


def _words(commands: dict[str, Command]) -> dict[str, Command]:
    found: dict[str, Command] = {}
    for command in commands.values():
        for word in command.words:
            if found.setdefault(word, command) is not command:
                raise ValueError(f"the word {word!r} names two commands")
    return found


def _buttons() -> dict[type[Payload], ButtonHandler]:
    found: dict[type[Payload], ButtonHandler] = {}
    for feature in FEATURES:
        for kind, handler in feature.buttons.items():
            if found.setdefault(kind, handler) is not handler:
                raise ValueError(f"{kind.__name__} has two handlers")
    return found


COMMANDS = _commands()
WORDS = _words(COMMANDS)
BUTTONS = _buttons()
for _feature in FEATURES:
    conversation.register(*_feature.dialogs)


# Answers that must reach the person even if the process dies right after the commit: the
# receipt is where a citizen learns the case number. For a channel that redelivers
# (Inbound.update_key) such an answer is queued whole, in order, in the message's own unit
# of work, and the sender delivers it; a redelivery finds the update handled and adds nothing.
MUST_ARRIVE = frozenset({"report.receipt", "report.receipt_on_spot"})

# The database could not be reached or was busy: handling the message again later may work.
TRANSIENT = (OperationalError, InterfaceError, TimeoutError, ConnectionError)


async def handle(services: Services, inbound: Inbound) -> Answer:
    """Answer one message. Never raises: a failure is logged and the person told politely.

    A person writing faster than `services.limiter` allows is told once to slow down, and
    further messages are dropped (an empty answer) until their allowance refills.

    With `inbound.update_key`, the update is recorded in this unit of work and a copy of an
    update already handled gets an empty answer (see dispatch/inbound.py).
    """
    if len(inbound.text) > MAX_INBOUND:
        # Keep one character past every limit so that the step still says "too long".
        inbound = replace(inbound, text=inbound.text[: MAX_INBOUND + 1])
    locale = pick_locale(inbound.language, services.default_locale)
    who = f"{inbound.channel}:{inbound.user_ref}"
    verdict = services.limiter.admit(who)
    if verdict is not Verdict.HANDLE:
        # Past the person's rate: told once, then nothing, and no database work at all.
        log.info("%s message from %s not handled: too fast", inbound.channel, inbound.user_ref)
        slow = [Reply("flood.slow_down")] if verdict is Verdict.WARN else []
        return Answer(slow, locale)
    for attempt in (1, 2):
        try:
            return await _unit_of_work(services, inbound, locale, who)
        except IntegrityError:
            # Two messages of someone new, handled at once (a burst on PostgreSQL), both
            # create their person: one commits, the other's unit of work is rolled back
            # whole and, once more, finds the person.
            if attempt == 1:
                log.info("a %s message met a concurrent write; once more", inbound.channel)
                continue
            log.exception(
                "failed to handle a %s message from %s", inbound.channel, inbound.user_ref
            )
            return Answer([Reply("error.internal")], locale)
        except TRANSIENT:
            log.exception("database unavailable for a %s message", inbound.channel)
            return Answer([Reply("error.internal")], locale, retry_later=True)
        except Exception:
            log.exception(
                "failed to handle a %s message from %s", inbound.channel, inbound.user_ref
            )
            return Answer([Reply("error.internal")], locale)
    raise AssertionError("unreachable")


async def _unit_of_work(services: Services, inbound: Inbound, locale: str, who: str) -> Answer:
    """The message's one unit of work: everything it changes commits together, or nothing."""
    async with services.sessions() as session, session.begin():
        key = inbound.update_key
        if key is not None and not await first_sight(session, services.clock, key):
            log.info("update %s was already handled; not again", key)
            return Answer([], locale)
        person, identity = await person_for(
            session,
            services.clock,
            inbound.channel,
            inbound.user_ref,
            inbound.chat_ref,
            inbound.display_name,
            locale,
        )
        services.limiter.learn(who, is_staff(person))
        turn = Turn(services, session, person, identity, inbound)
        keyboard_was_up = keyboard_shown(await session.get(DialogState, person.id))
        # Notices parked while the platform would take nothing (WeChat's 48-hour
        # window) go out now that the person has written again there. Only such a channel
        # parks notices, and only a message on it opens its window: on any other channel
        # the UPDATE would find nothing, one statement per message for nothing.
        if inbound.channel in outbox.PARKING_CHANNELS:
            waiting = await outbox.release_waiting(session, services.clock, person.id)
            if waiting:
                turn.say("notice.waiting", count=waiting)
        await _route(turn)
        replies = turn.replies
        if keyboard_was_up:
            await session.flush()
            if not keyboard_shown(await session.get(DialogState, person.id)):
                replies = _removing_keyboard(replies)
        if key is not None and any(r.text_key in MUST_ARRIVE for r in replies):
            await queue_replies(
                session,
                services.clock,
                person.id,
                replies,
                key=key,
                channel=inbound.channel,
                chat_ref=inbound.chat_ref,
            )
            replies = []
        answer = Answer(replies, turn.locale, person.id)
    return answer


async def _route(turn: Turn) -> None:
    inbound = turn.inbound
    state = await live_state(turn)
    if inbound.kind == "text" and inbound.reply_to and await staff.answer_to_notice(turn, state):
        return
    name, argument = command_of(inbound, in_dialog=state is not None)
    if name is not None:
        await run_command(turn, state, name, argument)
        return
    if (
        inbound.kind == "choice"
        and inbound.choice is not None
        and await _global_button(turn, state, inbound.choice)
    ):
        return
    if state is not None:
        await step(turn, state)
        return
    await _no_dialog(turn)


def _removing_keyboard(replies: list[Reply]) -> list[Reply]:
    """The replies with the first that can carry it (one without buttons, else the first)
    told to remove the phone's keyboard the person has left behind: answered, gone back,
    cancelled, expired or replaced by another command."""
    if not replies:
        return replies
    at = next((i for i, reply in enumerate(replies) if not reply.buttons), 0)
    return [replace(r, remove_keyboard=True) if i == at else r for i, r in enumerate(replies)]


def command_of(inbound: Inbound, *, in_dialog: bool) -> tuple[str | None, str]:
    """The command a message gives, and its argument; (None, "") when it gives none.

    `/name rest` always does (an unknown name too: the router says so). A typed word does
    when it is alone, or followed by the argument of a command that takes one; inside a
    dialog only the words that steer it (cancel, back) count, any other is an answer.
    """
    if inbound.kind != "text":
        return None, ""
    text = inbound.text.strip()
    if text.startswith("/"):
        head, _, rest = text[1:].partition(" ")
        return head.split("@", 1)[0].lower(), rest.strip()
    head, _, rest = text.partition(" ")
    command = WORDS.get(head.lower())
    if command is None:
        # A button's label sent as text, as Telegram's reply keyboard sends "⬅️ 上一步":
        # its words without the emoji.
        head, rest = label_words(text).lower(), ""
        command = WORDS.get(head)
    if command is None:
        return None, ""
    if in_dialog and not command.steers_dialog:
        return None, ""
    if rest and not command.takes_argument:
        return None, ""  # a command word followed by more text is a description
    return command.name, rest.strip()


async def run_command(turn: Turn, state: DialogState | None, name: str, argument: str) -> None:
    """Run a command for the person: "command.unknown" for a name nobody registered, the
    command's refusal for a role it does not allow; then the dialog's question again (or
    the menu, for an unknown command outside a dialog)."""
    command = COMMANDS.get(name)
    if command is None:
        turn.say("command.unknown", command=name[:32])
        if state is not None:
            await ask(turn, state)
        else:
            turn.replies.append(main_menu(turn))
        return
    if turn.person.role not in command.roles:
        assert command.refusal is not None  # Feature.command requires one for limited roles
        turn.say(command.refusal)
        await ask_again(turn, state)
        return
    await command.run(turn, state, argument)


async def _global_button(turn: Turn, state: DialogState | None, payload: str) -> bool:
    """Buttons that work anywhere. True when handled here; False for a step's answer inside
    a dialog. Every payload only names an object: handlers re-check it against the database.

    - navigation: back (inside a dialog) or cancel;
    - a menu entry: its command, with the command's role check;
    - a payload class some feature registered (case actions, 督办, 回访): its handler;
    - a step's answer outside any dialog: "button.stale", then the menu;
    - anything we cannot read: "button.unknown", then the question again or the menu.
    """
    parsed = parse(payload)
    if isinstance(parsed, Nav):
        if parsed.action == "back" and state is not None:
            await back(turn, state)
        else:
            await cancel(turn, state)
        return True
    if isinstance(parsed, Menu) and parsed.command in MENU_COMMANDS:
        await run_command(turn, state, parsed.command, "")
        return True
    handler = BUTTONS.get(type(parsed)) if parsed is not None else None
    if handler is not None:
        await handler(turn, state, parsed)
        return True
    if not isinstance(parsed, StepChoice):
        turn.say("button.unknown")
        if state is not None:
            await ask(turn, state)
        else:
            turn.replies.append(main_menu(turn))
        return True
    if state is None:
        turn.say("button.stale")
        turn.replies.append(main_menu(turn))
        return True
    return False


async def _no_dialog(turn: Turn) -> None:
    """A message outside any dialog: staff's 接单/退回 answer their latest offer; a rating in
    words (满意, 不满意) answers the person's follow-up that is asked; eight or more characters
    are a description and start a report; anything else gets the menu."""
    inbound = turn.inbound
    text = inbound.text.strip() if inbound.kind == "text" else ""
    word = text.strip("。.!！").lower()
    if is_staff(turn.person) and word in staff.LATEST_OFFER_WORDS:
        await staff.answer_latest_offer(turn, word)
        return
    if text and await citizen.rating_by_words(turn):
        return
    if len(text) >= 8:
        await citizen.report_from_text(turn)
        return
    if inbound.kind not in ("text", "choice"):
        turn.say("fallback.unsupported")
    else:
        turn.say("fallback.menu_staff" if is_staff(turn.person) else "fallback.menu")
    turn.replies.append(main_menu(turn))
