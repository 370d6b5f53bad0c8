"""Key persons (重点人员包保帮扶) driven through time with the injected clock: a centre
dispatcher moves a case's party into assistance from /status, the chain is told, a grid
worker records visits, a month short of visits climbs reminder → 催办 → leader, a risk word in
a visit raises an urgent alert at any hour, a quarter brings the re-assessment (asked,
chased, answered, tier changed), and nobody off the chain or the centre reads the record."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from dialogs.base import Services
from dispatch.clock import FrozenClock
from dispatch.jobs import JobContext, run_job
from dispatch.keypersons import Enrolment, VisitDraft, enrol, record_visit
from locales import text as render
from storage.models import (
    Case,
    KeyPerson,
    KeyPersonEvent,
    KeyPersonRead,
    KeyPersonVisit,
    OutboxMessage,
)
from storage.models import (
    Person as PersonRow,
)
from tests.conftest import (
    AT_ANY_HOUR,
    GRID,
    TOWNSHIP_CENTRE,
    VILLAGE_CENTRE,
    VILLAGE_MEDIATION,
    ZONE,
    Person,
    file_report,
    make_staff,
)

OTHER_TOWNSHIP_CENTRE = "U532801101-ZZ"  # 嘎洒镇: not over the key person's place


def ctx(services: Services) -> JobContext:
    return JobContext(services.sessions, services.domain)


def at_local(day: date, hour: int = 9, minute: int = 30) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE)


async def notices(services: Services, person_id: int) -> list[OutboxMessage]:
    async with services.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.person_id == person_id)
            .order_by(OutboxMessage.id)
        )
        return list(rows.all())


def keys(rows: list[OutboxMessage]) -> list[str]:
    return [r.reply["text_key"] for r in rows]


def labels(who: Person) -> list[str]:
    """The buttons of the person's last answer, as they read them."""
    assert who.last is not None
    return [
        render(b.text_key, who.last.locale, b.params)
        for reply in who.last.replies
        for row in reply.buttons
        for b in row
    ]


def rendered(row: OutboxMessage) -> str:
    return render(row.reply["text_key"], "zh_CN", row.reply["params"])


class Office:
    """The township's dispatcher and leader, the village mediator (the chain's lead), the
    grid worker (who visits), and outsiders."""

    desk: Person
    boss: Person
    lead: Person
    worker: Person


async def office(services: Services) -> Office:
    staff = Office()
    staff.desk = await make_staff(services, "desk", "dispatcher", TOWNSHIP_CENTRE)
    staff.boss = await make_staff(services, "boss", "leader", TOWNSHIP_CENTRE)
    staff.lead = await make_staff(services, "lm", "mediator", VILLAGE_MEDIATION)
    staff.worker = await make_staff(services, "gw", "grid_worker", VILLAGE_CENTRE, GRID)
    return staff


async def enrol_from_status(services: Services, person, staff: Office) -> int:
    """A citizen's report; the township dispatcher opens it with /status and moves the party
    into assistance with the button there, tier 1; returns the key person's id."""
    number = await file_report(person("c"), "邻居因为宅基地的事扬言要动手，天天在门口骂")
    desk = staff.desk
    await desk.says(f"/status {number}")
    assert "🛡 转入包保帮扶" in labels(desk)
    await desk.taps("转入包保帮扶")
    assert desk.said()[-1] == "keyperson.ask_name", desk.texts()
    await desk.says("张三丰")
    await desk.says("5328 0119 9001 0112 34")
    assert desk.said()[-1] == "keyperson.ask_phone", desk.texts()
    await desk.taps("跳过")
    await desk.taps("一类")
    await desk.says("宅基地纠纷久调不决，扬言报复邻居")
    assert desk.said()[-1] == "keyperson.ask_leader", desk.texts()
    await desk.taps("boss")
    await desk.taps("lm")
    await desk.taps("gw")
    assert any("☑️ gw" in label for label in labels(desk))
    await desk.taps("选好了")
    assert desk.said()[-1] == "keyperson.ask_confirm"
    assert "532*" in desk.text() and "5328011990010112" not in desk.text()
    await desk.taps("确认登记")
    assert desk.said()[0] == "keyperson.enrolled", desk.texts()
    async with services.sessions() as session:
        kp = await session.scalar(select(KeyPerson))
        assert kp is not None
        return kp.id


async def test_enrol_from_a_case_tells_each_on_the_chain_with_the_name_masked(
    services: Services, person
) -> None:
    staff = await office(services)
    kp_id = await enrol_from_status(services, person, staff)
    async with services.sessions() as session:
        kp = await session.get_one(KeyPerson, kp_id)
        assert (kp.name, kp.tier, kp.id_number) == ("张三丰", 1, "532801199001011234")
        assert kp.case_id is not None and kp.status == "active"
    for who, role in (
        (staff.boss, "包保领导"),
        (staff.lead, "责任单位负责人"),
        (staff.worker, "帮扶责任人"),
    ):
        told = [r for r in await notices(services, who.id) if r.purpose == "keyperson"]
        assert keys(told) == ["keyperson.enrolled_notice"], who.user_ref
        words = rendered(told[0])
        assert f"K{kp_id}（张**" in words and "张三丰" not in words and role in words
        assert "每月需走访 4 次" in words
    # The dispatcher who enrolled is not on the chain: no notice.
    assert "keyperson.enrolled_notice" not in keys(await notices(services, staff.desk.id))
    # The case's timeline says so.
    async with services.sessions() as session:
        kp = await session.get_one(KeyPerson, kp_id)
        case = await session.get_one(Case, kp.case_id)
    await staff.desk.says(f"/status {case.number}")
    assert "当事人转入包保帮扶" in staff.desk.text()


async def test_a_visit_recorded_in_chat_counts_against_the_month(
    services: Services, person
) -> None:
    staff = await office(services)
    kp_id = await enrol_from_status(services, person, staff)
    gw = staff.worker
    await gw.says("走访")
    assert gw.said()[-1] == "keyperson.ask_who"
    assert f"K{kp_id} 张**（帮扶一类）" in labels(gw) and "张三丰" not in str(labels(gw))
    await gw.taps(f"K{kp_id}")
    await gw.taps("今天")
    await gw.says("入户谈心，帮助联系村委调解宅基地边界")
    await gw.says("情绪平稳，愿意等待调解结果")
    await gw.sends("photo", media=("photo-file-1",))
    await gw.taps("完成")
    assert gw.said()[-1] == "keyperson.ask_location"
    await gw.sends("location", at=(22.01, 100.80))
    assert gw.said()[0] == "keyperson.visit_saved", gw.texts()
    assert "本月已走访 1/4 次" in gw.text()
    async with services.sessions() as session:
        visit = await session.scalar(select(KeyPersonVisit))
        assert visit is not None
        assert visit.visited_on == date(2026, 11, 24) and visit.photos == ["photo-file-1"]
        assert (visit.latitude, visit.longitude, visit.risk_flags) == (22.01, 100.80, [])
    # Someone off the chain has nobody to visit.
    await staff.desk.says("/visit")
    assert staff.desk.said()[0] == "keyperson.none_to_visit"


async def test_bad_answers_in_the_dialogs_get_a_polite_retry(services: Services, person) -> None:
    staff = await office(services)
    kp_id = await enrol_from_status(services, person, staff)
    gw = staff.worker
    await gw.presses(f"kv:{kp_id}")
    assert gw.said()[-1] == "keyperson.ask_date"
    await gw.says("明天下午")
    assert gw.said()[0] == "keyperson.bad_date"
    await gw.says("11-25")  # tomorrow, read as last year's: over a month ago
    assert gw.said()[0] == "keyperson.date_too_old"
    await gw.says("2026-11-25")
    assert gw.said()[0] == "keyperson.date_in_future"
    await gw.says("11-23")
    assert gw.said()[-1] == "keyperson.ask_done"
    # A mediator cannot register anyone, a citizen cannot even see the command work.
    await staff.lead.says("/keyperson")
    assert staff.lead.said()[0] == "keyperson.not_allowed"
    citizen = person("c2")
    await citizen.says("/visit")
    assert citizen.said()[0] == "tasks.staff_only"
    # An ID number that is none.
    await staff.worker.says("/keyperson")
    await staff.worker.says("李四")
    await staff.worker.says("12345")
    assert staff.worker.said()[0] == "keyperson.bad_id"


async def test_a_month_short_of_visits_climbs_reminder_then_urge_then_leader(
    services: Services, person, clock: FrozenClock
) -> None:
    staff = await office(services)
    kp_id = await enrol_from_status(services, person, staff)
    # One visit in December; tier 1 asks for four.
    async with services.sessions() as session, session.begin():
        gw = await session.get_one(PersonRow, staff.worker.id)
        await record_visit(
            services.domain.within(session),
            gw,
            kp_id,
            VisitDraft(date(2026, 12, 3), "送去慰问品", "情绪平稳", "console"),
        )
    seen: list[tuple[date, str, str]] = []
    day = date(2026, 11, 25)
    while day <= date(2027, 1, 3):
        clock.set(at_local(day, 9, 10))
        for _ in range(2):  # a second run the same day adds nothing
            before = {p.user_ref: len(await notices(services, p.id)) for p in _chain(staff)}
            await run_job("visits", ctx(services))
            for p in _chain(staff):
                for row in (await notices(services, p.id))[before[p.user_ref] :]:
                    seen.append((day, p.user_ref, row.reply["text_key"]))
        day += timedelta(days=1)
    assert seen == [
        (date(2026, 12, 20), "gw", "keyperson.visits_remind"),
        (date(2026, 12, 26), "lm", "keyperson.visits_urge"),
        (date(2027, 1, 1), "boss", "keyperson.visits_leader"),
    ]
    remind = (await notices(services, staff.worker.id))[-1]
    assert "2026-12 已走访 1 次，应走访 4 次" in rendered(remind)
    assert remind.reply["buttons"][0][0]["p"] == f"kv:{kp_id}"  # visit from the reminder
    # November (the month of enrolment) was not counted: no November step at all.
    async with services.sessions() as session:
        periods = {
            e.data["period"]
            for e in await session.scalars(
                select(KeyPersonEvent).where(KeyPersonEvent.kind == "visits_short")
            )
        }
    assert periods == {"2026-12"}


def _chain(staff: Office) -> list[Person]:
    return [staff.boss, staff.lead, staff.worker]


@AT_ANY_HOUR
async def test_a_risk_word_in_a_visit_alerts_the_chain_and_the_centre_at_once(
    services: Services, person, clock: FrozenClock, local_time: time
) -> None:
    staff = await office(services)
    kp_id = await enrol_from_status(services, person, staff)
    county_desk = await make_staff(services, "cd", "dispatcher", "U532801-ZZ")
    far_desk = await make_staff(services, "far", "dispatcher", OTHER_TOWNSHIP_CENTRE)
    clock.set(at_local(date(2026, 11, 26), local_time.hour, local_time.minute))
    gw = staff.worker
    await gw.presses(f"kv:{kp_id}")
    await gw.taps("今天")
    await gw.says("入户走访，劝说不要冲动")
    await gw.says("情绪激动，说调解不成就去北京上访")
    await gw.taps("完成")
    await gw.taps("跳过")
    assert gw.said()[:2] == ["keyperson.visit_saved", "keyperson.visit_alerted"], gw.texts()
    assert "准备上访、进京" in gw.text()
    for who in (staff.boss, staff.lead, staff.desk, county_desk):
        alerts = [
            r
            for r in await notices(services, who.id)
            if r.reply["text_key"] == "keyperson.risk_alert"
        ]
        assert len(alerts) == 1, who.user_ref
        assert alerts[0].urgent  # quiet hours do not hold it
        words = rendered(alerts[0])
        assert "准备上访、进京" in words and "情绪或行为突然异常" in words
        assert "张**" in words and "张三丰" not in words
        assert alerts[0].created_at.replace(tzinfo=UTC) == clock.now()
    assert not await notices(services, far_desk.id)
    # The worker who wrote it is on the chain too, and hears it as the others do.
    assert "keyperson.risk_alert" in keys(await notices(services, gw.id))


async def test_a_quarter_brings_the_reassessment_asked_chased_answered(
    services: Services, person, clock: FrozenClock
) -> None:
    staff = await office(services)
    kp_id = await enrol_from_status(services, person, staff)
    asked_on: list[tuple[date, str, str]] = []
    day = date(2026, 12, 1)
    while day <= date(2027, 3, 5):
        clock.set(at_local(day, 9, 20))
        before = {p.user_ref: len(await notices(services, p.id)) for p in _chain(staff)}
        await run_job("reassess", ctx(services))
        for p in _chain(staff):
            for row in (await notices(services, p.id))[before[p.user_ref] :]:
                asked_on.append((day, p.user_ref, row.reply["text_key"]))
        day += timedelta(days=1)
    # Enrolled 24 November 09:30: asked on the first run after 24 February 09:30, then
    # chased a week later, the leader told.
    assert asked_on == [
        (date(2027, 2, 25), "lm", "keyperson.reassess_ask"),
        (date(2027, 3, 4), "boss", "keyperson.reassess_chase_leader"),
        (date(2027, 3, 4), "lm", "keyperson.reassess_chase"),
    ]
    question = (await notices(services, staff.lead.id))[-1]
    lead = staff.lead
    lead.last = None
    # Only the lead (or the leader) answers; the worker's press is refused.
    await staff.worker.presses(f"kr:{kp_id}:l")
    assert staff.worker.said()[0] == "keyperson.not_lead"
    await lead.presses(f"kr:{kp_id}:r")  # raise tier 1: nowhere to go
    assert lead.said()[0] == "keyperson.tier_limit"
    lowered = [
        b["p"]
        for row in question.reply["buttons"]
        for b in row
        if b["t"] == "button.reassess_lower"
    ]
    await lead.presses(lowered[0])
    assert lead.said()[0] == "keyperson.reassessed" and "帮扶二类" in lead.text()
    async with services.sessions() as session:
        kp = await session.get_one(KeyPerson, kp_id)
        assert kp.tier == 2 and kp.reassess_asked_at is None
        assert kp.next_reassess_at.astimezone(ZONE).date() == date(2027, 6, 5)
        kinds = [
            e.kind
            for e in await session.scalars(
                select(KeyPersonEvent)
                .where(KeyPersonEvent.key_person_id == kp_id)
                .order_by(KeyPersonEvent.id)
            )
        ]
    assert kinds[-4:] == ["reassess_ask", "reassess_chase", "reassess", "tier_change"]
    told = keys(await notices(services, staff.worker.id))
    assert told[-1] == "keyperson.reassessed_notice"
    # Answered: the same button again finds no open question.
    await lead.presses(lowered[0])
    assert lead.said()[0] == "keyperson.not_asked"


async def test_closing_at_reassessment_asks_the_reason(
    services: Services, person, clock: FrozenClock
) -> None:
    staff = await office(services)
    kp_id = await enrol_from_status(services, person, staff)
    clock.set(at_local(date(2027, 2, 25), 9, 20))
    await run_job("reassess", ctx(services))
    lead = staff.lead
    await lead.presses(f"kr:{kp_id}:c")
    assert lead.said()[-1] == "keyperson.ask_close_reason"
    await lead.says("纠纷已调解结案，情绪稳定三个月")
    assert lead.said()[0] == "keyperson.closed_done"
    async with services.sessions() as session:
        kp = await session.get_one(KeyPerson, kp_id)
        assert kp.status == "closed"
    assert keys(await notices(services, staff.worker.id))[-1] == "keyperson.closed_notice"
    await staff.worker.says("/visit")
    assert staff.worker.said()[0] == "keyperson.none_to_visit"


async def test_only_the_chain_and_the_centre_read_and_every_read_is_audited(
    services: Services, person
) -> None:
    staff = await office(services)
    kp_id = await enrol_from_status(services, person, staff)
    far_desk = await make_staff(services, "far", "dispatcher", OTHER_TOWNSHIP_CENTRE)
    other_mediator = await make_staff(services, "om", "mediator", VILLAGE_MEDIATION)
    citizen = person("c")
    for outsider in (far_desk, other_mediator, citizen):
        await outsider.presses(f"ks:{kp_id}")
        assert outsider.said()[0] == "keyperson.not_found", outsider.user_ref
        assert "张三丰" not in outsider.text()
    await far_desk.says("/keypersons")
    assert far_desk.said()[0] == "keyperson.none"
    # The chain and the centre over the place read it; the record shows the name whole.
    for reader in (staff.desk, staff.boss, staff.worker):
        await reader.presses(f"ks:{kp_id}")
        assert reader.said()[0] == "keyperson.record", reader.user_ref
        assert "张三丰" in reader.text() and "532***********1234" in reader.text()
    await staff.desk.says("/keypersons")
    assert f"K{kp_id} 张** 帮扶一类" in staff.desk.text() and "张三丰" not in staff.desk.text()
    async with services.sessions() as session:
        reads = [
            (r.person_id, r.via)
            for r in await session.scalars(select(KeyPersonRead).order_by(KeyPersonRead.id))
        ]
    assert reads == [
        (staff.desk.id, "chat"),
        (staff.boss.id, "chat"),
        (staff.worker.id, "chat"),
        (staff.desk.id, "chat"),
    ]


async def enrol_directly(
    services: Services, staff: Office, tier: int = 1, name: str = "王五", region: str = GRID
) -> int:
    """A key person put in assistance through the domain (the dialog is tested above)."""
    async with services.sessions() as session, session.begin():
        desk = await session.get_one(PersonRow, staff.desk.id)
        kp = await enrol(
            services.domain.within(session),
            desk,
            Enrolment(
                name=name,
                region_code=region,
                tier=tier,
                reason="土地纠纷久调不决",
                leader_id=staff.boss.id,
                lead_id=staff.lead.id,
                worker_ids=[staff.worker.id],
            ),
        )
        return kp.id


async def test_doctor_names_a_key_person_whose_only_worker_left(services: Services) -> None:
    from dispatch.health import check
    from dispatch.staff import disable

    staff = await office(services)
    kp_id = await enrol_directly(services, staff)
    async with services.sessions() as session:
        assert not [f for f in await check(session, services.clock.now()) if "key" in f.check]
    async with services.sessions() as session, session.begin():
        worker = await session.get_one(PersonRow, staff.worker.id)
        await disable(services.domain.within(session), worker)
    async with services.sessions() as session:
        found = [f for f in await check(session, services.clock.now()) if "key" in f.check]
    assert [(f.check, f.count, list(f.ids)) for f in found] == [
        ("key_person_chain_broken", 1, [str(kp_id)])
    ]


async def test_a_closed_record_is_redacted_after_the_closed_case_period(
    services: Services, person, clock: FrozenClock
) -> None:
    staff = await office(services)
    kp_id = await enrol_from_status(services, person, staff)
    async with services.sessions() as session, session.begin():
        gw = await session.get_one(PersonRow, staff.worker.id)
        await record_visit(
            services.domain.within(session),
            gw,
            kp_id,
            VisitDraft(date(2026, 11, 24), "电话 13912345678 联系", "情绪平稳", "console", ["f1"]),
        )
    clock.set(at_local(date(2027, 2, 25), 9, 20))
    await run_job("reassess", ctx(services))
    await staff.lead.presses(f"kr:{kp_id}:c")
    await staff.lead.says("纠纷已化解，当事人张三丰搬走")
    clock.set(at_local(date(2030, 2, 26), 3, 30))
    assert "1 closed key persons redacted" in await run_job("retention", ctx(services))
    assert "0 closed key persons redacted" in await run_job("retention", ctx(services))
    async with services.sessions() as session:
        kp = await session.get_one(KeyPerson, kp_id)
        visit = await session.scalar(select(KeyPersonVisit))
        events = list(await session.scalars(select(KeyPersonEvent)))
    assert (kp.name, kp.id_number, kp.phone, kp.reason) == ("*", None, None, "")
    assert kp.tier == 1 and kp.redacted_at is not None  # the facts stay
    assert visit is not None and (visit.done, visit.photos) == ("", [])
    assert visit.visited_on == date(2026, 11, 24)
    assert not [e for e in events if "张三丰" in str(e.data)]
