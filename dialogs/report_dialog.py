"""Reporting a dispute: the citizen's guided dialog and the shorter one for staff.

Citizen: describe → confirm_category (a confident guess) or likely_category (two or three
guesses, or "none of these" → pick_category) or not_dispute (a service request, consultation
or emergency: where it belongs, or go on) → location (→ confirm_place when a typed place names
one or two of the organisation's places) → region (unless confirmed) → people_count → danger →
photos → contact → confirm.
Staff (every role but citizen; reports by anyone but department staff count as a grid
worker's): describe → its type as for citizens → region (skipped when their profile names a
grid; a name typed there → confirm_place) → parties → people_count → danger → on_spot
(→ on_spot_summary when resolved there) → photos → confirm.
A chat begun from a grid's QR code (/start g_<grid>) skips location and region.
"""

from __future__ import annotations

import re
from typing import Any

from dialogs.base import Outcome, Retry, Turn
from dialogs.roles import is_staff
from dialogs.steps import (
    FINISH,
    Choice,
    ChoiceStep,
    Dialog,
    Step,
    TextStep,
    choice_rows,
    matched_choice,
    question,
)
from dispatch import cases
from dispatch.cases import ReportDraft, max_risk
from dispatch.classify import DISPUTE, NON_DISPUTES, OTHER, SERVICE
from dispatch.limits import reports_filed
from dispatch.messages import Inbound, Reply, t
from dispatch.org import children
from dispatch.place_match import normalise
from dispatch.vocab import CATEGORIES
from storage.models import Region, Unit

MAX_PHOTOS = 9
PAGE = 8
PEOPLE = ("2", "3-9", "10-29", "30+")
# More people means more risk: ten or more is a group dispute (群体性), thirty or more is major.
PEOPLE_RISK = {"2": "general", "3-9": "general", "10-29": "significant", "30+": "major"}
DANGER_RISK = {"none": "general", "possible": "significant", "urgent": "major"}
# Mainland mobiles, and landlines with an area code (0691-2123456).
PHONE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
STAFF_REPORTERS = ("grid_worker", "dept_staff")
# An unsure verdict offers the candidates at least this likely (two or three of them).
LIKELY_SCORE = 0.05


def _after(data: dict[str, Any], step: str) -> str:
    """The next step, or back to the summary when the person is correcting one answer."""
    if data.pop("_editing", False):
        return "confirm"
    return step


def _is_staff(data: dict[str, Any]) -> bool:
    return bool(data.get("source", "citizen") != "citizen")


def _place_step(data: dict[str, Any]) -> str:
    """Where the place is asked; a report begun from a grid's QR code already knows it."""
    if data.get("_skip_location"):
        return "parties" if _is_staff(data) else "people_count"
    return "region" if _is_staff(data) else "location"


# describe ------------------------------------------------------------------------------


async def _described(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    result = turn.services.classifier.classify(text)
    data.update(
        description=text,
        category=result.category,
        confidence=result.confidence,
        risk=result.risk,
        cues=list(result.cues),
        kind=result.kind,
    )
    data.pop("_editing", None)  # a new description is classified again: confirm its type
    if result.kind != DISPUTE:
        return "not_dispute"
    if result.confident:
        return "confirm_category"
    likely = [code for code, score in result.candidates if score >= LIKELY_SCORE]
    if len(likely) >= 2:
        data["_likely"] = likely
        return "likely_category"
    return "pick_category"


describe = TextStep("describe", "report.ask_describe", _described, min_len=4, max_len=1000)


# not_dispute / confirm_category / likely_category / pick_category ---------------------------


class NotADisputeStep(ChoiceStep):
    """A service request, a consultation or an emergency: say where it belongs (110/120/119
    first), and let the person report it anyway so nothing is lost; cancel ends here."""

    def __init__(self) -> None:
        super().__init__(
            "not_dispute",
            "report.not_dispute_service",
            [Choice("go_on", "button.report_anyway")],
            self._go_on,
            per_row=1,
        )

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        kind = data.get("kind", SERVICE)
        prompt = f"report.not_dispute_{kind if kind in NON_DISPUTES else SERVICE}"
        return question(prompt, {}, nonce, await self.choices(turn, data), self.per_row)

    @staticmethod
    async def _go_on(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
        # The centre's dispatcher takes it as "other"; an emergency keeps its major risk.
        data["category"] = OTHER
        return _after(data, _place_step(data))


not_dispute = NotADisputeStep()


async def _category_params(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
    return {"category": t(f"cat.{data['category']}")}


async def _category_confirmed(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    if value == "no":
        return "pick_category"
    return _after(data, _place_step(data))


confirm_category = ChoiceStep(
    "confirm_category",
    "report.ask_confirm_category",
    [Choice("yes", "button.yes_right"), Choice("no", "button.no_pick")],
    _category_confirmed,
    params=_category_params,
)


async def _likely_choices(turn: Turn, data: dict[str, Any]) -> list[Choice]:
    likely = [c for c in data.get("_likely", []) if c in CATEGORIES][:3]
    return [Choice(c, f"cat.{c}") for c in likely] + [Choice("none", "button.none_of_these")]


async def _likely_picked(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    if value == "none":
        return "pick_category"
    return await _category_picked(turn, data, value)


likely_category = ChoiceStep(
    "likely_category", "report.ask_likely_category", _likely_choices, _likely_picked, per_row=1
)


async def _category_choices(turn: Turn, data: dict[str, Any]) -> list[Choice]:
    ranked = [
        c for c, score in turn.services.classifier.ranked(data.get("description", "")) if score > 0
    ]
    order = ranked + [c for c in CATEGORIES if c not in ranked]
    return [Choice(c, f"cat.{c}") for c in order]


async def _category_picked(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    data["category"] = value
    data["confidence"] = 1.0  # the person said so
    return _after(data, _place_step(data))


pick_category = ChoiceStep(
    "pick_category", "report.ask_pick_category", _category_choices, _category_picked, per_row=3
)


# location (citizens) ----------------------------------------------------------------------


class LocationStep(Step):
    """Share a location, pick the village from the list, or type a place: a typed place is
    matched against the organisation's names (see `_match_place`)."""

    name = "location"
    choices = (
        Choice("share", "button.share_location", kind="location"),
        Choice("pick", "button.pick_region"),
    )

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        return question("report.ask_location", {}, nonce, self.choices, 1)

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        if inbound.kind == "location" and inbound.location is not None:
            lat, lon = inbound.location.latitude, inbound.location.longitude
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                return Retry("input.bad_location")
            _forget_place(data)
            data.update(latitude=lat, longitude=lon)
            turn.say("report.location_saved")
            return "region"
        picked = matched_choice(turn, inbound, self.choices, nonce_ok=True)
        if picked is not None:
            if picked.value == "share":
                return Retry("report.share_hint")
            _forget_place(data)
            return "region"
        if inbound.kind != "text":
            return Retry("report.location_expected")
        typed = _typed_place(inbound.text)
        if isinstance(typed, Retry):
            return typed
        _forget_place(data)
        outcome = await _match_place(turn, data, typed)
        if outcome is not None:
            return outcome
        # Nothing the organisation knows by that name: the list from the top, and what was
        # typed kept as the address (less the names of the place picked, see _settled).
        data["address"] = typed
        turn.say("report.place_not_found", text=_shown(typed))
        return "region"


# A typed place: matched against the organisation's names ------------------------------------

PLACE_MAX = 200
# More equally good places than this are not offered: the person is asked to say more.
MAX_OFFERED = 2
# Levels a case is filed at without asking further; a township or county matched alone
# opens the list of its villages instead.
SETTLED_LEVELS = ("village", "grid")


def _shown(text: str) -> str:
    """A typed text quoted back to its writer: short enough for one line."""
    return text if len(text) <= 20 else text[:19] + "…"


def _typed_place(raw: str) -> str | Retry:
    """The typed place, cleaned, or why it cannot be one (empty, too long, only symbols)."""
    text = normalise(raw)
    if not text:
        return Retry("input.empty")
    if len(text) > PLACE_MAX:
        return Retry("input.too_long", {"max": PLACE_MAX, "got": len(text)})
    if not any(ch.isalnum() for ch in text):
        return Retry("report.place_unreadable")
    if len(text) < 2:
        return Retry("input.too_short", {"min": 2})
    return text


# What the location, confirm_place and region steps keep between questions.
_PLACE_STATE = ("_node", "_page", "_place_offer", "_place_text")


def _forget_place(data: dict[str, Any]) -> None:
    """A new answer to "where": what an earlier one left is no longer true."""
    for key in (*_PLACE_STATE, "address", "latitude", "longitude"):
        data.pop(key, None)


def _set_address(data: dict[str, Any], detail: str) -> None:
    if detail:
        data["address"] = detail
    else:
        data.pop("address", None)


async def _match_place(turn: Turn, data: dict[str, Any], text: str) -> Outcome | None:
    """Match a typed place against the organisation's names (dispatch/place_match.py); staff
    only within their jurisdiction.

    Outcomes:
    - one or two places score best → "confirm_place", which offers them as buttons;
    - one place above a village (a township, a county) scores best → its villages listed
      ("region" with `_node` set), and what the text adds kept as the address;
    - more than two score best → a Retry asking for the township or county too;
    - a staff member's text names only places outside their jurisdiction → a Retry saying so;
    - nothing matches → None: the caller decides.
    """
    index = await turn.services.places.index(turn.session)
    within = data.get("_top") if _is_staff(data) else None
    lookup = index.lookup(text, within)
    if not lookup.matches:
        if within is not None and index.lookup(text).matches:
            return Retry("report.place_outside", {"text": _shown(text)})
        return None
    if len(lookup.matches) > MAX_OFFERED:
        return Retry("report.place_too_many", {"text": _shown(text), "count": len(lookup.matches)})
    data["_place_text"] = text
    first = lookup.matches[0]
    if len(lookup.matches) == 1 and index.places[first.code].level not in SETTLED_LEVELS:
        _set_address(data, first.detail)
        data["_node"], data["_page"] = first.code, 0
        turn.say("report.place_partly", place=index.label(first.code))
        return "region"
    data["_place_offer"] = [
        {"code": m.code, "label": index.label(m.code), "detail": m.detail} for m in lookup.matches
    ]
    return "confirm_place"


async def _settled(turn: Turn, data: dict[str, Any]) -> str:
    """The place is decided: drop what the region step kept, keep in the address only what
    it adds beyond the place's names (a place typed, then picked from the list, is not
    shown twice), and go on."""
    for key in _PLACE_STATE:
        data.pop(key, None)
    if data.get("address") and data.get("region_code"):
        index = await turn.services.places.index(turn.session)
        _set_address(data, index.detail(data["address"], data["region_code"]))
    return _after(data, "parties" if _is_staff(data) else "people_count")


class ConfirmPlaceStep(Step):
    """The one or two places a typed text named, each a button ("您说的是【景洪市 嘎洒镇
    曼景保村委会】吗？"), and "neither" for the list. Typing another name tries again."""

    name = "confirm_place"

    def _offer(self, data: dict[str, Any]) -> tuple[list[str], list[Choice]]:
        offer = list(data.get("_place_offer") or [])
        labels = [str(o.get("label") or "-") for o in offer]
        if len(offer) == 1:
            choices = [Choice("p:0", "button.place_yes")]
        else:
            choices = [
                Choice(f"p:{i}", "label.raw", {"text": label}) for i, label in enumerate(labels)
            ]
        choices.append(Choice("none", "button.place_none"))
        return labels, choices

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        labels, choices = self._offer(data)
        if len(labels) == 1:
            return question("report.ask_place_one", {"place": labels[0]}, nonce, choices, 2)
        return question("report.ask_place_two", {}, nonce, choices, 1)

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        labels, choices = self._offer(data)
        picked = matched_choice(turn, inbound, choices, nonce_ok=True)
        typed_yes = inbound.text.strip().strip("。.!！") in (turn.words("word.yes"), "是的", "对")
        if picked is None and inbound.kind == "text" and len(labels) == 1 and typed_yes:
            picked = choices[0]
        if picked is None and inbound.kind == "text" and inbound.text.strip():
            # Another name typed instead of a tap: match it as the location step would.
            typed = _typed_place(inbound.text)
            if isinstance(typed, Retry):
                return typed
            outcome = await _match_place(turn, data, typed)
            if outcome is None:
                return Retry("report.region_not_found", {"text": _shown(typed)})
            return outcome
        if picked is None:
            return Retry("input.pick_a_button")
        offer = list(data.get("_place_offer") or [])
        if picked.value == "none":
            # The whole text stays as the address until a place is picked from the list.
            text = data.get("_place_text")
            for key in ("_node", "_page", "_place_offer"):
                data.pop(key, None)
            if text:
                data["address"] = text
            return "region"
        chosen = offer[int(picked.value.removeprefix("p:"))]
        region = await turn.session.get(Region, chosen["code"])
        _set_address(data, str(chosen.get("detail") or ""))
        if region is None:  # the organisation changed under the dialog
            data.pop("_place_offer", None)
            return "region"
        if region.level in SETTLED_LEVELS or not await children(turn.session, region.code):
            data["region_code"] = region.code
            return await _settled(turn, data)
        data["_node"], data["_page"] = region.code, 0
        data.pop("_place_offer", None)
        return "region"


# region: walk the tree ---------------------------------------------------------------------


class RegionStep(Step):
    """Pick the village (and grid) from the region tree, page by page.

    Citizens start at the top of the organisation; staff at their own jurisdiction.
    Data kept while walking: `_node` (the region whose children are listed) and `_page`.
    """

    name = "region"

    async def _top(self, turn: Turn, data: dict[str, Any]) -> str | None:
        if _is_staff(data):
            return data.get("_top")
        roots = await children(turn.session, None)
        if len(roots) == 1:
            return roots[0].code  # one prefecture: start with its counties
        return None

    async def _listing(
        self, turn: Turn, data: dict[str, Any]
    ) -> tuple[Region | None, list[Choice]]:
        node_code = data.get("_node") or await self._top(turn, data)
        node = await turn.session.get(Region, node_code) if node_code else None
        kids = await children(turn.session, node.code if node else None)
        page = int(data.get("_page", 0))
        shown = kids[page * PAGE : (page + 1) * PAGE]
        listing = [Choice(f"r:{r.code}", "label.raw", {"text": r.name}) for r in shown]
        if len(kids) > (page + 1) * PAGE:
            listing.append(Choice("more", "button.more"))
        if node is not None and node.level in ("village", "township", "county") and node_code:
            listing.append(Choice("here", "button.just_here", {"name": node.name}))
        top = await self._top(turn, data)
        if node is not None and node.code != top:
            listing.append(Choice("up", "button.up"))
        if not _is_staff(data):
            listing.append(Choice("unknown", "button.not_sure"))
        return node, listing

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        node, listing = await self._listing(turn, data)
        where = node.name if node else "-"
        return question("report.ask_region", {"where": where}, nonce, listing, 2)

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        node, listing = await self._listing(turn, data)
        picked = matched_choice(turn, inbound, listing, nonce_ok=True)
        if picked is None and inbound.kind == "text" and inbound.text.strip():
            # A name typed instead of walking the tree (staff know their villages by name).
            typed = _typed_place(inbound.text)
            if isinstance(typed, Retry):
                return typed
            outcome = await _match_place(turn, data, typed)
            if outcome is None:
                return Retry("report.region_not_found", {"text": _shown(typed)})
            return outcome
        if picked is None:
            return Retry("input.pick_a_button")
        if picked.value == "more":
            data["_page"] = int(data.get("_page", 0)) + 1
            return self.name
        if picked.value == "up" and node is not None:
            data["_node"], data["_page"] = node.parent_code, 0
            return self.name
        if picked.value == "unknown":
            data["region_code"] = None
            return await _settled(turn, data)
        if picked.value == "here" and node is not None:
            data["region_code"] = node.code
            return await _settled(turn, data)
        region = await turn.session.get(Region, picked.value.removeprefix("r:"))
        if region is None:
            return Retry("input.pick_a_button")
        if region.level == "grid" or not await children(turn.session, region.code):
            data["region_code"] = region.code
            return await _settled(turn, data)
        data["_node"], data["_page"] = region.code, 0
        return self.name


# the rest of the questions ---------------------------------------------------------------


async def _parties(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    data["parties"] = text
    return _after(data, "people_count")


parties = TextStep("parties", "report.ask_parties", _parties, min_len=2, max_len=500)


async def _people(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    data["people_involved"] = value
    return _after(data, "danger")


people_count = ChoiceStep(
    "people_count",
    "report.ask_people",
    [Choice(p, f"people.{p}") for p in PEOPLE],
    _people,
)


async def _danger(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    data["danger_level"] = value
    if value == "urgent":
        turn.say("report.urgent_call_110")
    return _after(data, "on_spot" if data.get("source") in STAFF_REPORTERS else "photos")


danger = ChoiceStep(
    "danger",
    "report.ask_danger",
    [
        Choice("none", "danger.none"),
        Choice("possible", "danger.possible"),
        Choice("urgent", "danger.urgent"),
    ],
    _danger,
    per_row=1,
)


async def _on_spot(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    data["resolved_on_spot"] = value == "yes"
    if value == "yes":
        return "on_spot_summary"
    data.pop("on_spot_summary", None)
    return _after(data, "photos")


on_spot = ChoiceStep(
    "on_spot",
    "report.ask_on_spot",
    [Choice("yes", "button.on_spot_yes"), Choice("no", "button.on_spot_no")],
    _on_spot,
)


async def _on_spot_summary(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    data["on_spot_summary"] = text
    return _after(data, "photos")


on_spot_summary = TextStep(
    "on_spot_summary", "report.ask_on_spot_summary", _on_spot_summary, min_len=2, max_len=500
)


class PhotosStep(Step):
    """Optional photos, any number up to MAX_PHOTOS, then 完成 (or 跳过)."""

    name = "photos"
    choices = (Choice("done", "button.photos_done"),)

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        params = {"count": len(data.get("photos", [])), "max": MAX_PHOTOS}
        return question("report.ask_photos", params, nonce, self.choices, 1)

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        if inbound.kind == "photo" and inbound.media:
            photos: list[str] = list(data.get("photos", []))
            room = MAX_PHOTOS - len(photos)
            if room <= 0:
                return Retry("report.photos_full", {"max": MAX_PHOTOS})
            photos.extend(inbound.media[:room])
            data["photos"] = photos
            return Retry("report.photo_saved", {"count": len(photos)})
        picked = matched_choice(turn, inbound, self.choices, nonce_ok=True)
        if (
            picked is None
            and inbound.kind == "text"
            and inbound.text.strip()
            in (
                turn.words("word.skip"),
                "skip",
            )
        ):
            picked = self.choices[0]
        if picked is None:
            return Retry("report.photos_expected")
        return _after(data, "confirm" if _is_staff(data) else "contact")


class ContactStep(Step):
    """An optional phone number: the person's own shared from the phone (Telegram's
    contact.user_id is theirs), typed, or anonymous. A card of someone else is refused
    with an explanation and the question asked again."""

    name = "contact"
    choices = (
        Choice("share", "button.share_contact", kind="contact"),
        Choice("anonymous", "button.anonymous"),
    )

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        return question("report.ask_contact", {}, nonce, self.choices, 1)

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        picked = matched_choice(turn, inbound, self.choices, nonce_ok=True)
        if picked is not None:
            if picked.value == "anonymous":
                data["phone"] = None
                return "confirm"
            return Retry("report.share_hint")
        if inbound.kind not in ("text", "contact"):
            return Retry("report.phone_expected")
        if inbound.kind == "contact" and not inbound.own_contact:
            # Someone else's card (a friend's, a neighbour's, the other party's) is no
            # proof of how to reach the reporter, and storing it would put a stranger's
            # number on the case. Say so and ask again: their own card, a typed number
            # (which may be anyone's they choose to give), or anonymous.
            return Retry("report.contact_not_own")
        typed = re.sub(r"[\s()]", "", inbound.text)
        match = PHONE.match(typed)
        if match is None:
            return Retry("report.phone_invalid")
        data["phone"] = match.group(1)
        return "confirm"


# confirm -------------------------------------------------------------------------------

EDITABLE_CITIZEN = ("describe", "pick_category", "region", "people_count", "danger", "contact")
EDITABLE_STAFF = ("describe", "pick_category", "region", "parties", "people_count", "danger")


async def summary_params(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
    place = await cases.place_name(turn.session, data.get("region_code"))
    if data.get("address"):
        place = f"{place} {data['address']}".strip()
    if not place and data.get("latitude") is not None:
        place = f"{data['latitude']:.5f}, {data['longitude']:.5f}"
    return {
        "description": data.get("description", ""),
        "category": t(f"cat.{data.get('category', 'other')}"),
        "place": place or t("place.unknown"),
        "people": t(f"people.{data['people_involved']}") if data.get("people_involved") else "-",
        "danger": t(f"danger.{data.get('danger_level', 'none')}"),
        "photos": len(data.get("photos", [])),
        "phone": data.get("phone") or t("phone.anonymous"),
        "parties": data.get("parties") or "-",
        "on_spot": t("word.yes" if data.get("resolved_on_spot") else "word.no"),
    }


class ConfirmStep(Step):
    name = "confirm"
    choices = (
        Choice("submit", "button.submit"),
        Choice("edit", "button.edit"),
        Choice("cancel", "button.cancel_report"),
    )

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        if data.get("_choosing_edit"):
            fields = EDITABLE_STAFF if _is_staff(data) else EDITABLE_CITIZEN
            rows = choice_rows(nonce, [Choice(f"e:{f}", f"edit.{f}") for f in fields], 2)
            return Reply("report.ask_edit_which", {}, tuple(rows))
        key = "report.summary_staff" if _is_staff(data) else "report.summary"
        rows = choice_rows(nonce, self.choices, 3)
        return Reply(key, await summary_params(turn, data), tuple(rows))

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        if data.get("_choosing_edit"):
            fields = EDITABLE_STAFF if _is_staff(data) else EDITABLE_CITIZEN
            options = [Choice(f"e:{f}", f"edit.{f}") for f in fields]
            picked = matched_choice(turn, inbound, options, nonce_ok=True)
            if picked is None:
                return Retry("input.pick_a_button")
            data.pop("_choosing_edit")
            data["_editing"] = True
            step = picked.value.removeprefix("e:")
            if step == "region":
                # A new place: the detail typed with the old one would describe the wrong
                # spot. Citizens are asked "where" again (a typed place, a location or the
                # list); staff get their list, where a name can be typed too.
                for key in (*_PLACE_STATE, "address"):
                    data.pop(key, None)
                if not _is_staff(data) and not data.get("_skip_location"):
                    return "location"
            return step
        picked = matched_choice(turn, inbound, self.choices, nonce_ok=True)
        if picked is None:
            return Retry("input.pick_a_button")
        if picked.value == "edit":
            data["_choosing_edit"] = True
            return self.name
        if picked.value == "cancel":
            data["_cancelled"] = True
        return FINISH


async def _submit(turn: Turn, data: dict[str, Any]) -> None:
    if data.get("_cancelled"):
        turn.say("report.cancelled")
        return
    people_risk = PEOPLE_RISK.get(data.get("people_involved") or "2", "general")
    danger_risk = DANGER_RISK.get(data.get("danger_level", "none"), "general")
    draft = ReportDraft(
        description=data["description"],
        category=data["category"],
        confidence=float(data.get("confidence", 0)),
        risk=max_risk(data.get("risk", "general"), people_risk, danger_risk),
        cues=list(data.get("cues", [])),
        source=data.get("source", "citizen"),
        region_code=data.get("region_code"),
        address=data.get("address"),
        latitude=data.get("latitude"),
        longitude=data.get("longitude"),
        people_involved=data.get("people_involved"),
        danger=data.get("danger_level", "none") != "none",
        parties=data.get("parties"),
        phone=data.get("phone"),
        photos=list(data.get("photos", [])),
        resolved_on_spot=bool(data.get("resolved_on_spot")),
        on_spot_summary=data.get("on_spot_summary"),
    )
    # A citizen past the daily limit (a flood, or one quarrel filed ten times) is not
    # refused (a report is never lost) but held for the centre to check. Staff are not
    # limited: reporting is their work.
    held = False
    limit = turn.services.reports_per_day
    if limit > 0 and draft.source == "citizen":
        filed = await reports_filed(turn.session, turn.person.id, turn.ctx.clock.now())
        held = filed >= limit
    case = await cases.file_report(turn.ctx, turn.person, draft, turn.inbound.channel, held=held)
    if case.status == "resolved":
        turn.say("report.receipt_on_spot", number=case.number)
    else:
        # The receipt names who the case went to: a mediator's unit, a centre, or a queue.
        went = await cases.placement(turn.session, case)
        unit = went.unit.name if went.unit is not None else t("sla.no_centre")
        turn.say(
            "report.receipt",
            number=case.number,
            risk=t(f"risk.{case.risk}"),
            next=t("report.next_held" if held else _NEXT[went.kind], unit=unit),
        )


_NEXT = {
    "mediator": "report.next_mediator",
    "centre": "report.next_centre",
    "queue": "report.next_queue",
}


CITIZEN_REPORT = Dialog.of(
    "report",
    [
        describe,
        not_dispute,
        confirm_category,
        likely_category,
        pick_category,
        LocationStep(),
        ConfirmPlaceStep(),
        RegionStep(),
        people_count,
        danger,
        PhotosStep(),
        ContactStep(),
        ConfirmStep(),
    ],
    _submit,
)

STAFF_REPORT = Dialog.of(
    "staff_report",
    [
        describe,
        not_dispute,
        confirm_category,
        likely_category,
        pick_category,
        RegionStep(),
        ConfirmPlaceStep(),
        parties,
        people_count,
        danger,
        on_spot,
        on_spot_summary,
        PhotosStep(),
        ConfirmStep(),
    ],
    _submit,
)


async def report_start_data(turn: Turn, grid: Region | None) -> tuple[str, dict[str, Any], str]:
    """Which report dialog a person gets, its starting data, and its first step."""
    person = turn.person
    if not is_staff(person):
        data: dict[str, Any] = {"source": "citizen"}
        if grid is not None:
            data["region_code"] = grid.code
            data["_skip_location"] = True
        return "report", data, "describe"
    data = {"source": person.role if person.role in STAFF_REPORTERS else "grid_worker"}
    home = person.region_code
    if home is None and person.unit_code is not None:
        unit = await turn.session.get(Unit, person.unit_code)
        home = unit.region_code if unit else None
    region = await turn.session.get(Region, home) if home else None
    if grid is not None:
        data["region_code"] = grid.code
        data["_skip_location"] = True
    elif region is not None and region.level == "grid":
        data["region_code"] = region.code
        data["_skip_location"] = True
    elif region is not None:
        data["_top"] = region.code
    return "staff_report", data, "describe"
