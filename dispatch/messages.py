"""Channel-neutral messages: what a person said (Inbound) and what we say back (Reply).

Handlers translate platform updates into Inbound and render Reply on their platform;
nothing below handlers/ knows which chat app a person uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from dispatch.sanitise import clean

InboundKind = Literal["text", "choice", "location", "photo", "contact", "voice", "unsupported"]
ButtonKind = Literal["choice", "location", "contact"]


def t(key: str, **params: Any) -> dict[str, Any]:
    """A parameter that the adapter renders as message `key` (with `params`) in the
    reader's locale: how a status, a category or a nested line reaches a message."""
    return {"$t": key, **params}


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Inbound:
    channel: str  # "telegram", "wechat", "console"
    user_ref: str  # the platform's id of the person
    chat_ref: str  # where to answer
    kind: InboundKind
    text: str = ""
    choice: str | None = None  # an opaque button payload; never proof of a right
    location: Location | None = None
    media: tuple[str, ...] = ()  # platform file ids
    reply_to: str | None = None  # id of the bot message this answers, if any
    display_name: str = ""
    language: str | None = None  # the platform's language code, e.g. "zh-hans", "en"
    # The platform's id of this update, from a channel that redelivers until acknowledged
    # (Telegram's update_id): the router records it in the message's unit of work, so the
    # update is handled once, and queues an answer that must arrive (a receipt) in that
    # same unit of work, since a redelivery after the commit will not produce it again.
    update_key: str | None = None
    # A shared contact card (kind "contact"): the platform's id of the person whose card it
    # is, when the platform says (Telegram's contact.user_id); None for a card of someone
    # not on the platform. Equal to `user_ref` only for the sender's own number.
    contact_user_ref: str | None = None

    def __post_init__(self) -> None:
        # The edge: what a person wrote is stored and shown to staff, so the invisible
        # controls that could make it lie (a U+202E override) go here, for every channel.
        object.__setattr__(self, "text", clean(self.text))
        object.__setattr__(self, "display_name", clean(self.display_name))

    @property
    def own_contact(self) -> bool:
        """A contact card of the sender's own number."""
        return self.kind == "contact" and self.contact_user_ref == self.user_ref


@dataclass(frozen=True, slots=True)
class Button:
    text_key: str
    payload: str = ""
    kind: ButtonKind = "choice"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    text_key: str
    params: dict[str, Any] = field(default_factory=dict)
    buttons: tuple[tuple[Button, ...], ...] = ()  # rows of buttons
    media: tuple[str, ...] = ()
    # Adapters keep a reply keyboard (location/contact) until a reply says otherwise: the
    # router sets this on the first reply after the person left the question that showed it.
    remove_keyboard: bool = False
    # A question answered in words (a description, a summary, a code): a channel without
    # buttons numbers none of its buttons, so a typed number stays text, and names back and
    # cancel in words instead.
    free_text: bool = False
    # Explains the reply after it (why a question is asked again): a channel that can send
    # only one message per answer puts the two together.
    lead_in: bool = False

    @property
    def device_buttons(self) -> bool:
        """It asks for something a phone sends by button (its location, its number)."""
        return any(b.kind != "choice" for row in self.buttons for b in row)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text_key": self.text_key,
            "params": self.params,
            "buttons": [
                [{"t": b.text_key, "p": b.payload, "k": b.kind, "a": b.params} for b in row]
                for row in self.buttons
            ],
            "media": list(self.media),
        }
        for flag in ("remove_keyboard", "free_text", "lead_in"):
            if getattr(self, flag):
                data[flag] = True
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        return cls(
            text_key=data["text_key"],
            params=data.get("params") or {},
            buttons=tuple(
                tuple(Button(b["t"], b["p"], b["k"], b.get("a") or {}) for b in row)
                for row in data.get("buttons") or ()
            ),
            media=tuple(data.get("media") or ()),
            remove_keyboard=bool(data.get("remove_keyboard")),
            free_text=bool(data.get("free_text")),
            lead_in=bool(data.get("lead_in")),
        )
