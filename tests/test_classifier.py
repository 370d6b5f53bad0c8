"""Dispute classifier: dev-set accuracy, risk rating and edge cases."""

from __future__ import annotations

import csv
import random
from collections import Counter
from pathlib import Path

import jieba
import pytest
import yaml

from dispatch.classify import DEFAULT_RULES, Classification, Classifier, JiebaSegmenter
from dispatch.vocab import CATEGORIES, RISKS
from tests.classifier_report import DevRow, evaluate, load_devset


class SpaceSegmenter:
    """A fake segmenter: words are whatever the spaces separate."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def cut(self, text: str) -> list[str]:
        self.calls.append(text)
        return text.split(" ")


class BrokenSegmenter:
    def cut(self, text: str) -> list[str]:
        raise RuntimeError("segmenter down")


@pytest.fixture(scope="module")
def segmenter() -> JiebaSegmenter:
    return JiebaSegmenter()


@pytest.fixture(scope="module")
def classifier(segmenter: JiebaSegmenter) -> Classifier:
    return Classifier.load(segmenter=segmenter)


@pytest.fixture(scope="module")
def devset() -> list[DevRow]:
    return load_devset()


@pytest.fixture
def tiny_rules(tmp_path: Path) -> Path:
    rules = {
        "threshold": 0.5,
        "min_score": 2,
        "negations": ["没有", "没"],
        "risk": {"major": ["跳楼"], "significant": ["动手"]},
        "categories": {
            "labor": {"keywords": {"工钱": 3, "欠薪": 3}, "phrases": {"工资不给": 4}},
            "family": {"keywords": {"离婚": 4}, "negative": {"工钱": 1}},
        },
    }
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return path


# --- the dev set -------------------------------------------------------------------------


def test_devset_is_well_formed(devset: list[DevRow]) -> None:
    assert len(devset) >= 330
    assert {row.category for row in devset} <= set(CATEGORIES)
    assert {row.risk for row in devset} <= set(RISKS)
    assert all(row.text.strip() for row in devset)
    texts = [row.text for row in devset]
    assert len(set(texts)) == len(texts), "duplicate texts"


def test_every_category_has_enough_rows(devset: list[DevRow]) -> None:
    counts = Counter(row.category for row in devset)
    thin = {code: counts[code] for code in CATEGORIES if counts[code] < 15}
    assert not thin, f"categories with fewer than 15 rows: {thin}"


def test_category_accuracy(classifier: Classifier, devset: list[DevRow]) -> None:
    evaluation = evaluate(classifier, devset)
    assert evaluation.accuracy >= 0.85, evaluation.confusions.most_common(10)


def test_risk_accuracy_and_no_major_missed(classifier: Classifier, devset: list[DevRow]) -> None:
    evaluation = evaluate(classifier, devset)
    assert evaluation.risk_accuracy >= 0.80, evaluation.risk_confusions
    missed = [
        row.text
        for row in devset
        if row.risk == "major" and classifier.classify(row.text).risk == "general"
    ]
    assert not missed


# --- edge cases ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "asdfgh qwerty", "？？？", "123", "hello"])
def test_empty_or_gibberish_is_other(classifier: Classifier, text: str) -> None:
    result = classifier.classify(text)
    assert result.category == "other"
    assert result.confidence == 0.0
    assert result.confident is False
    assert result.risk == "general"
    assert classifier.ranked(text) == []


def test_very_long_text_does_not_raise(classifier: Classifier) -> None:
    text = ("隔壁装修天天吵，楼上漏水到我家。" * 400)[:5000]
    result = classifier.classify(text)
    assert result.category in CATEGORIES
    assert result.risk in RISKS
    assert 0.0 <= result.confidence <= 1.0


def test_clear_report_is_confident(classifier: Classifier) -> None:
    result = classifier.classify("包工头拖欠我们三个月工钱，老板跑了")
    assert result.category == "labor"
    assert result.confident
    assert result.risk == "general"
    assert classifier.ranked("包工头拖欠我们三个月工钱，老板跑了")[0][0] == "labor"


def test_cues_list_category_words_then_risk_words(classifier: Classifier) -> None:
    result = classifier.classify("包工头欠薪跑了，再不给钱我就跳楼")
    assert result.category == "labor"
    assert result.risk == "major"
    assert result.risk_cues == ("跳楼",)
    assert result.cues[-1] == "跳楼"
    assert {"包工头", "欠薪"} <= set(result.cues)


def test_negated_risk_cue_does_not_count(classifier: Classifier) -> None:
    assert classifier.classify("两家吵了几句，但是没有动手").risk == "general"
    assert classifier.classify("两家吵了几句，男的动手了").risk == "significant"
    assert classifier.classify("这点小事我们不报警，请村里调解").risk == "general"
    # One negated and one plain mention: the plain one counts.
    assert classifier.classify("上次没动手，这次他动手了").risk == "significant"


@pytest.mark.parametrize(
    ("text", "risk"),
    [
        ("我们三个人去找老板要工钱", "general"),
        ("我们十几个人去找老板要工钱", "significant"),
        ("二十多名农民工在工地等着讨薪", "major"),
        ("全村几十户准备一起去乡里", "major"),
    ],
)
def test_head_count_raises_risk(classifier: Classifier, text: str, risk: str) -> None:
    assert classifier.classify(text).risk == risk


def test_money_and_huge_numbers_are_not_head_counts(classifier: Classifier) -> None:
    assert classifier.classify("借了他两千人民币一直没还").risk == "general"
    assert classifier.classify("9" * 5000 + "人来了").risk == "major"


def test_arbitrary_strings_never_raise(classifier: Classifier) -> None:
    alphabet = "没有动手跳楼二十几个人物业费，。！？ \n\t\x00\ud800😀abcABC１２３ｱ"
    rng = random.Random(20240601)
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        result = classifier.classify(text)
        assert result.category in CATEGORIES
        assert result.risk in RISKS


def test_to_dict_has_kind_and_candidates(classifier: Classifier) -> None:
    result = classifier.classify("楼上天天半夜跳来跳去，吵得睡不着")
    data = result.to_dict()
    assert set(data) == {"category", "kind", "confidence", "risk", "cues", "candidates"}
    assert data["category"] == result.category == "neighbor"
    assert data["kind"] == "dispute"
    assert data["confidence"] == round(result.confidence, 3)
    assert data["cues"] == list(result.cues)
    candidates = data["candidates"]
    assert isinstance(candidates, list) and 1 <= len(candidates) <= 3
    assert candidates[0] == {"category": "neighbor", "score": round(result.confidence, 3)}


def test_classification_is_immutable(classifier: Classifier) -> None:
    result = classifier.classify("物业费涨了")
    assert isinstance(result, Classification)
    with pytest.raises(AttributeError):
        result.category = "family"  # type: ignore[misc]


def test_ranked_is_sorted_best_first(classifier: Classifier) -> None:
    text = "征地的补偿款还没发，地里的橡胶树也被推了"
    ranked = classifier.ranked(text)
    scores = [score for _, score in ranked]
    assert scores == sorted(scores, reverse=True)
    assert ranked[0][0] == classifier.classify(text).category
    assert all(score > 0 for score in scores)


# --- segmentation and rules ------------------------------------------------------------------


def test_custom_segmenter_is_used(tiny_rules: Path) -> None:
    fake = SpaceSegmenter()
    classifier = Classifier.load(tiny_rules, segmenter=fake)
    assert classifier.classify("老板 工钱 欠薪").category == "labor"
    # Without spaces the fake segmenter yields one long token: no keyword matches.
    unsplit = classifier.classify("老板工钱欠薪")
    assert unsplit.category == "other"
    assert unsplit.confident is False
    assert fake.calls == ["老板 工钱 欠薪", "老板工钱欠薪"]


def test_phrases_match_whatever_the_segmentation(tiny_rules: Path) -> None:
    classifier = Classifier.load(tiny_rules, segmenter=SpaceSegmenter())
    result = classifier.classify("老板说工资不给了")
    assert result.category == "labor"
    assert result.cues == ("工资不给",)


def test_negative_words_subtract(tiny_rules: Path) -> None:
    classifier = Classifier.load(tiny_rules, segmenter=SpaceSegmenter())
    assert dict(classifier.ranked("离婚 工钱")) == {"family": 3.0, "labor": 3.0}


def test_failing_segmenter_does_not_raise(
    tiny_rules: Path, caplog: pytest.LogCaptureFixture
) -> None:
    classifier = Classifier.load(tiny_rules, segmenter=BrokenSegmenter())
    result = classifier.classify("老板说工资不给了，我要跳楼")
    assert result.category == "labor"
    assert result.risk == "major"
    assert "segmenter failed" in caplog.text


def test_rules_with_unknown_category_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("categories:\n  divorce:\n    keywords: {离婚: 3}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="divorce"):
        Classifier.load(path, segmenter=SpaceSegmenter())


def test_jieba_segmenter_uses_the_user_dictionary(segmenter: JiebaSegmenter) -> None:
    assert "青苗费" in segmenter.cut("修路占地的青苗费一直没给")
    assert "宅基地" in segmenter.cut("他家占了我家的宅基地")


def test_jieba_segmenter_leaves_global_jieba_alone(segmenter: JiebaSegmenter) -> None:
    assert segmenter is not None
    assert "青苗费" not in jieba.dt.FREQ


def test_every_keyword_survives_segmentation(segmenter: JiebaSegmenter) -> None:
    """A keyword jieba never cuts out as a word can never match: add it to userdict.txt."""
    rules = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    sections = {**rules["categories"], **rules["kinds"]}
    dead = [
        f"{code}:{word}"
        for code, section in sections.items()
        for kind in ("keywords", "negative", "setting")
        for word in (section.get(kind) or {})
        if str(word).lower() not in segmenter.cut(str(word).lower())
    ]
    assert not dead, f"move these to phrases or add them to userdict.txt: {dead}"


def test_a_risk_word_inside_an_everyday_phrase_does_not_count(classifier: Classifier) -> None:
    calm = classifier.classify("隔壁邻居装修天天吵，有事打我电话13912345678")
    assert calm.risk == "general"
    assert classifier.classify("隔壁邻居装修天天吵，昨天他还打我").risk == "significant"


# --- issue 12: naming beats setting, not-a-dispute kinds, candidates, calibration ------------


TUNING = Path(__file__).resolve().parent / "data" / "classifier_tuning.tsv"
TUNING2 = Path(__file__).resolve().parent / "data" / "classifier_tuning2.tsv"


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # Housing estate, owners, property company: the dispute is the demolition.
        ("我们小区划进拆迁范围了，业主们都说补偿标准太低", "expropriation"),
        # A building site and a husband: the dispute is the road accident.
        ("我老公在工地门口被车撞了，司机跑了", "traffic"),
        # Owners' chat group and a housing estate: the dispute is the noise upstairs.
        ("小区楼上那家天天半夜装修，电钻吵得睡不着，业主群里都在骂", "neighbor"),
        # Parents-in-law and a daughter: the dispute is the dog bite.
        ("公婆带着我女儿在小区门口被邻居家的狗咬了，人家不肯出医药费", "damages"),
        # A building site past permitted hours is pollution, not labour.
        ("旁边工地每天晚上十一点多还在施工，打桩的声音震得窗户都响", "environment"),
    ],
)
def test_the_word_naming_the_dispute_beats_setting_words(
    classifier: Classifier, text: str, category: str
) -> None:
    result = classifier.classify(text)
    assert (result.kind, result.category) == ("dispute", category), result.candidates


def test_setting_words_alone_only_make_a_weak_guess(classifier: Classifier) -> None:
    # Many setting words, nothing that names a dispute: never a confident verdict.
    result = classifier.classify("我们小区的业主，还有工地上的老公、公婆、女儿和老板")
    assert not result.confident


def test_setting_words_still_break_a_tie(tiny_rules: Path, tmp_path: Path) -> None:
    rules = yaml.safe_load(tiny_rules.read_text(encoding="utf-8"))
    rules["setting_cap"] = 1
    rules["categories"]["labor"]["keywords"]["欠薪"] = 4
    rules["categories"]["labor"]["setting"] = {"工地": 5, "老板": 5}
    path = tmp_path / "setting.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    classifier = Classifier.load(path, segmenter=SpaceSegmenter())
    # Capped at 1 together, the two setting words tip a tie but cannot beat a naming word.
    assert classifier.classify("离婚 欠薪").category == "family"  # a tie: vocabulary order
    assert dict(classifier.ranked("离婚 欠薪 工地 老板")) == {"labor": 5.0, "family": 4.0}
    assert classifier.classify("离婚 欠薪 工地 老板").category == "labor"
    assert classifier.classify("离婚 工地 老板").category == "family"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("我们这条街的路灯坏了一个多月了，晚上黑灯瞎火的", "service"),
        ("小区门口天天有车乱停，能不能叫交警来贴条", "service"),
        ("昨天坐的出租车司机绕路，还不打表，想投诉一下", "service"),
        ("12路公交车老是不按点，等了四十分钟一辆都不来", "service"),
        ("请问一下怎么申请低保，需要准备什么材料", "consultation"),
        ("我想咨询一下，离婚的话需要带什么证件去民政局", "consultation"),
        ("快来人啊我家楼下着火了，烟好大", "emergency"),
        ("我爸突然倒在地上不省人事了，叫也叫不醒", "emergency"),
        ("有人在菜市场拿着刀乱砍，已经有人受伤了", "emergency"),
    ],
)
def test_what_is_not_a_dispute_goes_to_other_with_its_kind(
    classifier: Classifier, text: str, kind: str
) -> None:
    result = classifier.classify(text)
    assert (result.kind, result.category) == (kind, "other"), result.candidates
    assert result.candidates[0][0] == "other"


def test_emergencies_are_major_and_disputes_with_the_same_words_stay_disputes(
    classifier: Classifier,
) -> None:
    assert classifier.classify("我老公喝了农药，现在口吐白沫").risk == "major"
    assert classifier.classify("有个老人在公交站晕倒了，快叫救护车").risk == "major"
    # A taxi driver who knocked someone over is an accident to mediate, not a taxi complaint.
    crash = classifier.classify("出租车司机开门的时候把我骑的自行车撞倒了，他说我骑得太快")
    assert (crash.kind, crash.category) == ("dispute", "traffic")
    # A threat in a wage dispute is a major dispute, not an emergency call.
    threat = classifier.classify("包工头欠薪跑了，再不给钱我就跳楼")
    assert (threat.kind, threat.category, threat.risk) == ("dispute", "labor", "major")


def test_a_ruled_out_word_does_not_count(classifier: Classifier) -> None:
    leak = "楼上邻居家漏水泡了我家天花板"
    assert classifier.classify(leak).category == "neighbor"
    for ruled_out in ("这事跟物业没关系，", "不是物业的问题，"):
        result = classifier.classify(ruled_out + leak)
        assert result.category == "neighbor", result.candidates
        assert "物业" not in result.cues
    assert classifier.classify("物业不管，" + leak).candidates[0][0] == "property"


def test_candidates_are_the_best_three_with_probabilities(classifier: Classifier) -> None:
    result = classifier.classify("工地上好几个人的钱一直没结")
    assert not result.confident
    codes = [code for code, _ in result.candidates]
    scores = [score for _, score in result.candidates]
    assert 2 <= len(codes) <= 3 and {"labor", "contract"} <= set(codes)
    assert codes[0] == result.category and scores[0] == result.confidence
    assert scores == sorted(scores, reverse=True) and sum(scores) <= 1.0 + 1e-9


@pytest.mark.parametrize("path", [TUNING, TUNING2], ids=["tuning", "tuning2"])
def test_tuning_set_is_well_formed(path: Path) -> None:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert len(rows) >= 250
    assert {row["kind"] for row in rows} == {"dispute", "service", "consultation", "emergency"}
    assert all(row["category"] == "other" for row in rows if row["kind"] != "dispute")
    assert all(row["risk"] == "major" for row in rows if row["kind"] == "emergency")
    assert {row["category"] for row in rows} <= set(CATEGORIES)
    assert sum(row["kind"] != "dispute" for row in rows) >= len(rows) / 5


def test_tuning_set_accuracy_and_calibration(classifier: Classifier) -> None:
    with TUNING.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    results = [(row, classifier.classify(row["text"])) for row in rows]
    top1 = sum(r.category == row["category"] for row, r in results) / len(rows)
    top3 = sum(row["category"] in dict(r.candidates) for row, r in results) / len(rows)
    kinds = sum(r.kind == row["kind"] for row, r in results) / len(rows)
    assert (top1, top3, kinds) >= (0.9, 0.97, 0.9), (top1, top3, kinds)
    # Calibration: confident verdicts are right at least as often as they claim on average.
    confident = [(row, r) for row, r in results if r.confident]
    claimed = sum(r.confidence for _, r in confident) / len(confident)
    right = sum(r.category == row["category"] for row, r in confident) / len(confident)
    assert right >= claimed - 0.05, (right, claimed)


def test_the_head_count_rule_is_read_from_the_rules(tmp_path: Path) -> None:
    rules = {
        "group_size": {
            "significant": 10,
            "major": 20,
            "pattern": "([0-9]+|[一二十]+)(?:个)?(人|户)",
            "digits": {"一": 1, "二": 2},
            "units": {"十": 10},
        },
    }
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    classifier = Classifier.load(path, segmenter=SpaceSegmenter())
    assert classifier.classify("来了十二个人").risk == "significant"
    assert classifier.classify("二十户").risk == "major"
    assert classifier.classify("12人").risk == "significant"
    assert classifier.classify("二人").risk == "general"


@pytest.mark.parametrize(
    ("pattern", "message"), [("[0-9", "not a regular expression"), ("[0-9]+人", "needs a group")]
)
def test_a_broken_head_count_pattern_is_refused(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=rf"group_size\.pattern: .*{message}"):
        Classifier({"group_size": {"pattern": pattern}}, SpaceSegmenter())


def test_hotline_numbers_inside_phone_or_id_numbers_do_not_count(classifier: Classifier) -> None:
    text = "隔壁邻居装修天天吵到半夜，我电话13912345678，身份证53280119900101123X"
    result = classifier.classify(text)
    assert (result.kind, result.category) == ("dispute", "neighbor")
    assert not {"12345", "119", "110"} & set(result.cues)
    assert classifier.classify("小孩掉河里了，快打110").kind == "emergency"


def test_the_second_tuning_set_repeats_no_text_of_the_others(devset: list[DevRow]) -> None:
    texts = [row.text for row in load_devset(TUNING2)]
    assert len(set(texts)) == len(texts)
    earlier = {row.text for row in devset} | {row.text for row in load_devset(TUNING)}
    assert not earlier & set(texts)
    for kind in ("dispute", "service", "consultation", "emergency"):
        assert any(row.kind == kind for row in load_devset(TUNING2))


@pytest.mark.parametrize(
    ("text", "kind", "category"),
    [
        # A procedure question names a dispute type's topic but nobody to complain about.
        ("请问律师，协议离婚需要准备哪些材料", "consultation", "other"),
        ("我在外地交的社保，回老家了要怎么办理转移", "consultation", "other"),
        ("请问农村的宅基地可以转让吗，手续怎么办", "consultation", "other"),
        # The same topics with an opponent stay disputes, question form or not.
        ("请问律师，前夫一直不给抚养费怎么办", "dispute", "family"),
        ("请问公司拖欠我三个月社保，要怎么办理投诉", "dispute", "labor"),
        ("邻居占了我家宅基地，请问要什么材料才能起诉", "dispute", "housing"),
    ],
)
def test_a_question_with_nobody_to_complain_about_is_a_consultation(
    classifier: Classifier, text: str, kind: str, category: str
) -> None:
    result = classifier.classify(text)
    assert (result.kind, result.category) == (kind, category), result.candidates


def test_a_contested_phrase_decides_how_much_a_kind_must_outscore(
    tiny_rules: Path, tmp_path: Path
) -> None:
    rules = yaml.safe_load(tiny_rules.read_text(encoding="utf-8"))
    rules["kind_min"] = 2
    rules["kind_over"] = {"consultation": 2}
    rules["kinds"] = {"consultation": {"phrases": {"怎么办理": 3}}}
    rules["contested"] = ["不给", "吵"]
    path = tmp_path / "contested.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    # Without kind_over_uncontested, kind_over applies everywhere: 3 < 2 x 4.
    classifier = Classifier.load(path, segmenter=SpaceSegmenter())
    assert classifier.classify("离婚 怎么办理").kind == "dispute"

    rules["kind_over_uncontested"] = {"consultation": 0.5}
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    classifier = Classifier.load(path, segmenter=SpaceSegmenter())
    # Nobody refuses anything: 3 >= 0.5 x 4, a question about the procedure.
    asked = classifier.classify("离婚 怎么办理")
    assert (asked.kind, asked.category) == ("consultation", "other")
    # Someone refuses (a contested phrase anywhere in the text): kind_over again.
    for text in ("离婚 他不给 怎么办理", "离婚 天天吵 怎么办理"):
        disputed = classifier.classify(text)
        assert (disputed.kind, disputed.category) == ("dispute", "family"), text


def test_contested_phrases_never_score(tiny_rules: Path, tmp_path: Path) -> None:
    rules = yaml.safe_load(tiny_rules.read_text(encoding="utf-8"))
    rules["contested"] = ["工钱"]
    path = tmp_path / "contested.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    classifier = Classifier.load(path, segmenter=SpaceSegmenter())
    assert dict(classifier.ranked("工钱")) == {"labor": 3.0}


def test_dialect_spellings_meet_the_standard_rule(tiny_rules: Path, tmp_path: Path) -> None:
    rules = yaml.safe_load(tiny_rules.read_text(encoding="utf-8"))
    rules["variants"] = {"咋": "怎么", "俺": "我", "啥子": "什么", "啥": "什么"}
    rules["categories"]["labor"]["phrases"]["欠我工钱"] = 2
    rules["kind_min"] = 2
    rules["kinds"] = {"consultation": {"phrases": {"怎么申请": 3, "什么材料": 3}}}
    path = tmp_path / "variants.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    classifier = Classifier.load(path, segmenter=SpaceSegmenter())
    assert classifier.classify("低保 咋申请").kind == "consultation"
    assert classifier.classify("要带啥子材料").kind == "consultation"
    assert dict(classifier.ranked("老板 欠俺工钱")) == dict(classifier.ranked("老板 欠我工钱"))
    assert classifier.classify("老板欠俺工钱").cues == ("欠我工钱",)


def test_a_rule_written_in_dialect_still_matches(tiny_rules: Path, tmp_path: Path) -> None:
    # Rule words are rewritten too, so a rule spelt "咋办" matches "怎么办" and "咋办" alike.
    rules = yaml.safe_load(tiny_rules.read_text(encoding="utf-8"))
    rules["variants"] = {"咋": "怎么"}
    rules["categories"]["labor"]["phrases"]["工钱咋办"] = 2
    path = tmp_path / "variants.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    classifier = Classifier.load(path, segmenter=SpaceSegmenter())
    assert (
        dict(classifier.ranked("工钱怎么办"))
        == dict(classifier.ranked("工钱咋办"))
        == {"labor": 2.0}
    )


def test_a_past_fire_with_someone_to_blame_is_a_dispute_a_fire_now_an_emergency(
    classifier: Classifier,
) -> None:
    now = classifier.classify("厨房油锅着火了，我一个人灭不掉")
    assert (now.kind, now.risk) == ("emergency", "major")
    past = classifier.classify("买的电动车充电的时候着火了，把阳台烧黑了，卖车的不认账")
    assert (past.kind, past.category) == ("dispute", "consumer"), past.candidates
    # Harm words alone do not make a report contested: someone hurt right now is an emergency.
    hurt = classifier.classify("家里老人从楼梯上摔下来了，头在流血，叫不答应")
    assert hurt.kind == "emergency", hurt.candidates
