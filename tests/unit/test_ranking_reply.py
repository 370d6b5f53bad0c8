"""The red and black lists as a leader reads them: with nothing to rank, words instead of
two lists of dashes."""

from __future__ import annotations

from datetime import date

from dispatch.digests import ranking_reply
from dispatch.points import Ranking, UnitScore
from locales import text


def _reply_text(ranking: Ranking) -> str:
    reply = ranking_reply(ranking, date(2026, 11, 1))
    return text(reply.text_key, "zh_CN", reply.params)


def test_a_month_with_nothing_to_rank_says_so() -> None:
    empty = Ranking("532801001", "允景洪街道", "village", (), (), ())
    shown = _reply_text(empty)
    assert "暂无红榜和黑榜" in shown and "允景洪街道" in shown and "2026-11" in shown
    assert "—" not in shown


def test_a_month_with_scores_lists_them() -> None:
    best = UnitScore("U1-ZZ", "曼听社区综治中心", "1", "曼听社区", 10, 3)
    worst = UnitScore("U2-ZZ", "曼景兰社区综治中心", "2", "曼景兰社区", -4, 2)
    ranked = Ranking("532801001", "允景洪街道", "village", (best, worst), (best,), (worst,))
    shown = _reply_text(ranked)
    assert "曼听社区综治中心：10分" in shown and "曼景兰社区综治中心：-4分" in shown
    assert "暂无" not in shown
