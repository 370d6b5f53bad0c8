"""Graded grids in chat (网格分级分类): `/patrol` (巡查) records a patrol or rectification of
one's own grid, `/grids` lists one's grids with their grade and this month's patrols, and the
county dispatcher's buttons confirm or change a proposed grade."""

from __future__ import annotations

from sqlalchemy import select

from dialogs.base import Turn
from dialogs.commands import Feature
from dialogs.conversation import ask_again, start_dialog
from dialogs.patrol_dialog import PATROL
from dialogs.report_dialog import report_start_data
from dialogs.roles import STAFF
from dispatch import grids
from dispatch.grids import GridRefused
from dispatch.messages import t
from dispatch.org import jurisdiction_path
from dispatch.payloads import GridGrade, PatrolReport
from storage.models import DialogState, GridState, Region

feature = Feature("grids")
feature.dialog(PATROL)


@feature.command("patrol", help="command_help.patrol", roles=STAFF, refusal="tasks.staff_only")
async def patrol(turn: Turn, state: DialogState | None, argument: str) -> None:
    """A patrol of one's own grid ("grid.no_grid" for staff without one)."""
    if await grids.grid_of(turn.session, turn.person) is None:
        turn.say("grid.no_grid")
        await ask_again(turn, state)
        return
    await start_dialog(turn, PATROL.name)


@feature.button(PatrolReport)
async def on_patrol_report(turn: Turn, state: DialogState | None, payload: PatrolReport) -> None:
    """A dispute found on patrol: the staff report, its place the grid."""
    grid = await turn.session.get(Region, payload.region_code)
    if grid is None or grid.level != "grid":
        turn.say("qr.unknown_grid")
        await ask_again(turn, state)
        return
    name, data, step_name = await report_start_data(turn, grid)
    await start_dialog(turn, name, data, step_name)


@feature.command("grids", help="command_help.grids", roles=STAFF, refusal="tasks.staff_only")
async def grids_list(turn: Turn, state: DialogState | None, argument: str) -> None:
    """One's own grid (a grid worker) or the grids under one's unit, with grade, score and
    this month's patrols against the quota; a county dispatcher's waiting proposals again."""
    own = await grids.grid_of(turn.session, turn.person)
    path = own.path if own else await jurisdiction_path(turn.session, turn.person)
    if path is None:
        turn.say("grid.none")
        await ask_again(turn, state)
        return
    top = await turn.session.scalar(select(Region).where(Region.path == path))
    model = turn.services.domain.grids
    lines = await grids.grid_lines(
        turn.session, turn.services.domain, model, region=top.code if top else None, limit=20
    )
    if not lines:
        turn.say("grid.none")
        await ask_again(turn, state)
        return
    turn.say(
        "grid.list",
        lines=[
            {
                "$t": "grid.list_line",
                "grid": line.name,
                "grade": t(f"grid.grade_{line.grade}"),
                "score": line.score,
                "patrols": line.patrols,
                "quota": line.quota,
                "proposed": t(f"grid.proposed_{line.proposed}") if line.proposed else "",
            }
            for line in lines
        ],
    )
    waiting = [line for line in lines if line.proposed]
    if waiting and turn.person.role == "dispatcher":
        turn.replies.append(grids.proposals_reply(waiting, model))
    await ask_again(turn, state)


@feature.command(
    "keyplaces",
    help="command_help.keyplaces",
    roles=frozenset({"dispatcher", "leader", "admin"}),
    refusal="grid.places_centre_only",
    takes_argument=True,
)
async def keyplaces(turn: Turn, state: DialogState | None, argument: str) -> None:
    """`/keyplaces GRID N`: the key places (重点场所) a centre knows in a grid under it, an
    indicator of the grading model."""
    code, _, count = argument.partition(" ")
    count = count.strip()
    if not code or not count.isdigit() or int(count) > 999:
        turn.say("grid.places_usage")
        await ask_again(turn, state)
        return
    grid = await turn.session.get(Region, code[:40])
    if (
        grid is None
        or grid.level != "grid"
        or not await grids.may_enter_places(turn.session, turn.person, grid)
    ):
        turn.say("grid.places_not_yours", grid=code[:40])
        await ask_again(turn, state)
        return
    await grids.set_key_places(turn.session, grid.code, int(count))
    turn.say("grid.places_set", grid=grid.name, count=int(count))
    await ask_again(turn, state)


@feature.button(GridGrade)
async def on_grade(turn: Turn, state: DialogState | None, payload: GridGrade) -> None:
    try:
        decided: GridState = await grids.decide_grade(
            turn.ctx, turn.person, payload.region_code, payload.grade_name
        )
    except GridRefused as refused:
        turn.say(refused.reason)
        await ask_again(turn, state)
        return
    grid = await turn.session.get_one(Region, decided.region_code)
    turn.say("grid.graded", grid=grid.name, grade=t(f"grid.grade_{decided.grade}"))
    await ask_again(turn, state)
