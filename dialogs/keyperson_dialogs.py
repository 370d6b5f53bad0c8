"""Dialogs about key persons (重点人员包保帮扶): enrolment with its 1+1+N chain, a visit
(走访), and the reason for closing the assistance at a re-assessment.

Enrol: name → id_number → phone → tier → reason → leader → lead → workers → confirm.
Visit: who → date → done → situation → photos → location.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from dialogs.base import Outcome, Retry, Turn
from dialogs.steps import (
    FINISH,
    Choice,
    ChoiceStep,
    Dialog,
    Step,
    TextStep,
    matched_choice,
    question,
)
from dispatch import keypersons
from dispatch.keypersons import Enrolment, KeyPersonRefused, VisitDraft, mask_id, mask_name
from dispatch.masking import mask_phone
from dispatch.messages import Inbound, Reply, t
from storage.models import KeyPerson, Person, Unit

SKIP = (Choice("skip", "button.skip"),)
MAX_PHOTOS = 9
# A visit is recorded within a month of when it happened; later it is not a record.
OLDEST_VISIT = timedelta(days=31)


# enrol --------------------------------------------------------------------------------------


async def _name(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    data["name"] = text
    return "id_number"


_ID = re.compile(r"^(\d{17}[\dXx]|\d{15})$")


async def _id_number(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    number = re.sub(r"\s+", "", text).upper()
    if not _ID.match(number):
        return Retry("keyperson.bad_id")
    data["id_number"] = number
    return "phone"


async def _id_skipped(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    data["id_number"] = None
    return "phone"


async def _phone(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    digits = re.sub(r"[\s\-+()]", "", text)
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        return Retry("keyperson.bad_phone")
    data["phone"] = digits
    return "tier"


async def _phone_skipped(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    data["phone"] = None
    return "tier"


async def _tier(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    data["tier"] = int(value)
    return "reason"


async def _reason(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    data["reason"] = text
    # Whoever registers is a worker already; otherwise someone must be there to pick.
    roles = ("leader", "lead") if data.get("workers") else ("leader", "lead", "worker")
    for role in roles:
        if not await keypersons.candidates(turn.session, data["region"], role):
            data["_nobody"] = role
            return FINISH
    return "leader"


async def _candidate_choices(turn: Turn, data: dict[str, Any], role: str) -> list[Choice]:
    picked = set(data.get("workers", [])) if role == "worker" else set()
    choices = []
    for person in await keypersons.candidates(turn.session, data["region"], role):
        unit = await turn.session.get(Unit, person.unit_code) if person.unit_code else None
        label = "keyperson.candidate_picked" if person.id in picked else "keyperson.candidate"
        params = {
            "name": person.display_name or f"#{person.id}",
            "unit": unit.name if unit else "-",
        }
        choices.append(Choice(str(person.id), label, params))
    return choices


async def _leaders(turn: Turn, data: dict[str, Any]) -> list[Choice]:
    return await _candidate_choices(turn, data, "leader")


async def _leads(turn: Turn, data: dict[str, Any]) -> list[Choice]:
    return await _candidate_choices(turn, data, "lead")


async def _workers(turn: Turn, data: dict[str, Any]) -> list[Choice]:
    return [
        *await _candidate_choices(turn, data, "worker"),
        Choice("done", "button.workers_done"),
    ]


async def _leader(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    data["leader"] = int(value)
    return "lead"


async def _lead(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    data["lead"] = int(value)
    return "workers"


async def _worker(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    """Each tap adds or removes a worker (the list is asked again); 选好了 moves on."""
    workers: list[int] = list(data.get("workers", []))
    if value == "done":
        if not workers:
            return Retry("keyperson.pick_a_worker")
        return "confirm"
    person_id = int(value)
    if person_id in workers:
        workers.remove(person_id)
    else:
        workers.append(person_id)
    data["workers"] = workers
    return "workers"


async def _names(turn: Turn, ids: list[int]) -> str:
    found = []
    for person_id in ids:
        person = await turn.session.get(Person, person_id)
        found.append(person.display_name if person and person.display_name else f"#{person_id}")
    return "、".join(found) or "-"


async def _summary(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": data.get("name", ""),
        "id_number": mask_id(data.get("id_number")),
        "phone": mask_phone(data.get("phone")) or "-",
        "tier": t(f"keyperson.tier_{data.get('tier', 3)}"),
        "reason": data.get("reason", ""),
        "leader": await _names(turn, [data["leader"]] if "leader" in data else []),
        "lead": await _names(turn, [data["lead"]] if "lead" in data else []),
        "workers": await _names(turn, list(data.get("workers", []))),
    }


async def _confirmed(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    if value == "no":
        data["_abandon"] = True
    return FINISH


async def _enrolled(turn: Turn, data: dict[str, Any]) -> None:
    if data.get("_nobody"):
        turn.say("keyperson.no_candidates", role=t(f"keyperson.role_{data['_nobody']}"))
        return
    if data.get("_abandon"):
        turn.say("keyperson.enrol_abandoned")
        return
    draft = Enrolment(
        name=data["name"],
        region_code=data["region"],
        tier=int(data["tier"]),
        reason=data["reason"],
        leader_id=int(data["leader"]),
        lead_id=int(data["lead"]),
        worker_ids=[int(w) for w in data.get("workers", [])],
        id_number=data.get("id_number"),
        phone=data.get("phone"),
        case_id=data.get("case_id"),
    )
    try:
        key_person = await keypersons.enrol(turn.ctx, turn.person, draft)
    except KeyPersonRefused as refused:
        turn.say(refused.reason, number=data.get("number", "-"))
        return
    turn.say(
        "keyperson.enrolled",
        ref=f"K{key_person.id}",
        name=mask_name(key_person.name),
        tier=t(f"keyperson.tier_{key_person.tier}"),
    )


ENROL = Dialog.of(
    "keyperson_enrol",
    [
        TextStep("name", "keyperson.ask_name", _name, min_len=2, max_len=20),
        TextStep(
            "id_number",
            "keyperson.ask_id_number",
            _id_number,
            max_len=24,
            shortcuts=SKIP,
            on_choice=_id_skipped,
        ),
        TextStep(
            "phone",
            "keyperson.ask_phone",
            _phone,
            max_len=24,
            shortcuts=SKIP,
            on_choice=_phone_skipped,
        ),
        ChoiceStep(
            "tier",
            "keyperson.ask_tier",
            [Choice(str(tier), f"keyperson.tier_{tier}_choice") for tier in (1, 2, 3)],
            _tier,
            per_row=1,
        ),
        TextStep("reason", "keyperson.ask_reason", _reason, min_len=4, max_len=300),
        ChoiceStep("leader", "keyperson.ask_leader", _leaders, _leader, per_row=1),
        ChoiceStep("lead", "keyperson.ask_lead", _leads, _lead, per_row=1),
        ChoiceStep("workers", "keyperson.ask_workers", _workers, _worker, per_row=1),
        ChoiceStep(
            "confirm",
            "keyperson.ask_confirm",
            [Choice("yes", "button.keyperson_confirm"), Choice("no", "button.keyperson_abandon")],
            _confirmed,
            params=_summary,
        ),
    ],
    _enrolled,
)


# visit --------------------------------------------------------------------------------------


def pick_line(key_person: KeyPerson) -> Choice:
    params = {
        "ref": f"K{key_person.id}",
        "name": mask_name(key_person.name),
        "tier": t(f"keyperson.tier_{key_person.tier}"),
    }
    return Choice(str(key_person.id), "keyperson.pick_line", params)


async def _visitable(turn: Turn, data: dict[str, Any]) -> list[Choice]:
    return [pick_line(kp) for kp in await keypersons.visitable_by(turn.session, turn.person)]


async def _who(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    data["kp_id"] = int(value)
    return "date"


def _today(turn: Turn) -> date:
    return turn.clock.now().astimezone(turn.services.zone).date()


_DATE = re.compile(r"^(?:(\d{4})[-./年])?(\d{1,2})[-./月](\d{1,2})日?$")


def parse_day(text: str, today: date) -> date | None:
    """2026-11-30, 11-30, 11月30日 (this year, or last year when that is still to come)."""
    match = _DATE.match(text.strip())
    if match is None:
        return None
    year = int(match[1]) if match[1] else today.year
    try:
        day = date(year, int(match[2]), int(match[3]))
    except ValueError:
        return None
    if not match[1] and day > today:
        day = day.replace(year=year - 1)
    return day


async def _date_typed(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    today = _today(turn)
    day = parse_day(text, today)
    if day is None:
        return Retry("keyperson.bad_date")
    if day > today:
        return Retry("keyperson.date_in_future")
    if today - day > OLDEST_VISIT:
        return Retry("keyperson.date_too_old")
    data["on"] = day.isoformat()
    return "done"


async def _date_picked(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    today = _today(turn)
    data["on"] = (today if value == "today" else today - timedelta(days=1)).isoformat()
    return "done"


async def _done(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    data["done"] = text
    return "situation"


async def _situation(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    data["situation"] = text
    return "photos"


class VisitPhotosStep(Step):
    """Optional photos of the visit, then 完成."""

    name = "photos"
    choices = (Choice("done", "button.photos_done"),)

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        params = {"count": len(data.get("photos", [])), "max": MAX_PHOTOS}
        return question("keyperson.ask_photos", params, nonce, self.choices, 1)

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        if inbound.kind == "photo" and inbound.media:
            photos: list[str] = list(data.get("photos", []))
            if len(photos) >= MAX_PHOTOS:
                return Retry("report.photos_full", {"max": MAX_PHOTOS})
            photos.extend(inbound.media[: MAX_PHOTOS - len(photos)])
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
        return "location"


class VisitLocationStep(Step):
    """Where the visit took place: a shared location, or 跳过."""

    name = "location"
    choices = (
        Choice("share", "button.share_location", kind="location"),
        Choice("skip", "button.skip"),
    )

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        return question("keyperson.ask_location", {}, nonce, self.choices, 1)

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        if inbound.kind == "location" and inbound.location is not None:
            lat, lon = inbound.location.latitude, inbound.location.longitude
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                return Retry("input.bad_location")
            data.update(latitude=lat, longitude=lon)
            return FINISH
        picked = matched_choice(turn, inbound, self.choices, nonce_ok=True)
        if picked is None:
            return Retry("keyperson.location_expected")
        if picked.value == "share":
            return Retry("report.share_hint")
        return FINISH


async def _visited(turn: Turn, data: dict[str, Any]) -> None:
    draft = VisitDraft(
        visited_on=date.fromisoformat(data["on"]),
        done=data["done"],
        situation=data["situation"],
        channel=turn.inbound.channel,
        photos=list(data.get("photos", [])),
        latitude=data.get("latitude"),
        longitude=data.get("longitude"),
    )
    try:
        key_person, visit = await keypersons.record_visit(
            turn.ctx, turn.person, int(data["kp_id"]), draft
        )
    except KeyPersonRefused as refused:
        turn.say(refused.reason)
        return
    month = visit.visited_on.replace(day=1)
    done = await keypersons.visits_between(
        turn.session, key_person.id, month, keypersons.next_month(month)
    )
    turn.say(
        "keyperson.visit_saved",
        ref=f"K{key_person.id}",
        name=mask_name(key_person.name),
        visits=done,
        quota=turn.services.domain.keypersons.quota(key_person.tier),
    )
    if visit.risk_flags:
        turn.say(
            "keyperson.visit_alerted",
            flags=[t(f"keyperson.flag_{flag}") for flag in visit.risk_flags],
        )


VISIT = Dialog.of(
    "keyperson_visit",
    [
        ChoiceStep("who", "keyperson.ask_who", _visitable, _who, per_row=1),
        TextStep(
            "date",
            "keyperson.ask_date",
            _date_typed,
            max_len=20,
            shortcuts=(Choice("today", "button.today"), Choice("yesterday", "button.yesterday")),
            on_choice=_date_picked,
        ),
        TextStep("done", "keyperson.ask_done", _done, min_len=2, max_len=300),
        TextStep("situation", "keyperson.ask_situation", _situation, min_len=2, max_len=300),
        VisitPhotosStep(),
        VisitLocationStep(),
    ],
    _visited,
)


# close at a re-assessment ----------------------------------------------------------------


async def _close_reason(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    data["reason"] = text
    return FINISH


async def _closed(turn: Turn, data: dict[str, Any]) -> None:
    try:
        key_person = await keypersons.answer_reassessment(
            turn.ctx, turn.person, int(data["kp_id"]), "close", data["reason"]
        )
    except KeyPersonRefused as refused:
        turn.say(refused.reason)
        return
    turn.say("keyperson.closed_done", ref=f"K{key_person.id}", name=mask_name(key_person.name))


CLOSE = Dialog.of(
    "keyperson_close",
    [TextStep("reason", "keyperson.ask_close_reason", _close_reason, min_len=4, max_len=300)],
    _closed,
)
