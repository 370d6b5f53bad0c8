"""The patrol / rectification dialog (巡查/整治) of a grid worker's own grid:
kind → done → found → photos. A dispute found on patrol is reported from the button on the
answer, with the grid already filled in."""

from __future__ import annotations

from typing import Any

from dialogs.base import Outcome, Retry, Turn
from dialogs.keyperson_dialogs import MAX_PHOTOS
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
from dispatch import grids
from dispatch.grids import GridRefused, PatrolDraft
from dispatch.messages import Button, Inbound, Reply, t
from dispatch.payloads import PatrolReport
from storage.models import GridState


async def _kind(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    data["kind"] = value
    return "done"


async def _done(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    data["done"] = text
    return "found"


async def _found(turn: Turn, data: dict[str, Any], text: str) -> Outcome:
    data["found"] = text
    return "photos"


async def _nothing_found(turn: Turn, data: dict[str, Any], value: str) -> Outcome:
    data["found"] = turn.words("grid.nothing_found")
    return "photos"


class PatrolPhotosStep(Step):
    name = "photos"
    choices = (Choice("done", "button.photos_done"),)

    async def ask(self, turn: Turn, data: dict[str, Any], nonce: int) -> Reply:
        params = {"count": len(data.get("photos", [])), "max": MAX_PHOTOS}
        return question("grid.ask_photos", params, nonce, self.choices, 1)

    async def answer(self, turn: Turn, data: dict[str, Any], inbound: Inbound) -> Outcome:
        if inbound.kind == "photo" and inbound.media:
            photos: list[str] = list(data.get("photos", []))
            if len(photos) >= MAX_PHOTOS:
                return Retry("report.photos_full", {"max": MAX_PHOTOS})
            photos.extend(inbound.media[: MAX_PHOTOS - len(photos)])
            data["photos"] = photos
            return Retry("report.photo_saved", {"count": len(photos)})
        if matched_choice(turn, inbound, self.choices, nonce_ok=True) is None:
            return Retry("report.photos_expected")
        return FINISH


async def _saved(turn: Turn, data: dict[str, Any]) -> None:
    draft = PatrolDraft(data["kind"], data["done"], data["found"], list(data.get("photos", [])))
    try:
        patrol = await grids.record_patrol(turn.ctx, turn.person, draft)
    except GridRefused as refused:
        turn.say(refused.reason)
        return
    state = await turn.session.get(GridState, patrol.region_code)
    grade = state.grade if state else "normal"
    month = turn.clock.now().astimezone(turn.services.zone).date().replace(day=1)
    done = await grids.patrols_in(turn.session, patrol.region_code, month, turn.services.zone)
    report = Button("button.patrol_report", PatrolReport(patrol.region_code).pack())
    turn.say(
        "grid.patrol_saved",
        [(report,)],
        kind=t(f"grid.kind_{patrol.kind}"),
        grade=t(f"grid.grade_{grade}"),
        patrols=done,
        quota=turn.services.domain.grids.quota[grade],
    )


PATROL = Dialog.of(
    "patrol",
    [
        ChoiceStep(
            "kind",
            "grid.ask_kind",
            [Choice("patrol", "grid.kind_patrol"), Choice("rectify", "grid.kind_rectify")],
            _kind,
        ),
        TextStep("done", "grid.ask_done", _done, min_len=2, max_len=300),
        TextStep(
            "found",
            "grid.ask_found",
            _found,
            min_len=2,
            max_len=300,
            shortcuts=(Choice("none", "grid.nothing_found"),),
            on_choice=_nothing_found,
        ),
        PatrolPhotosStep(),
    ],
    _saved,
)
