"""The four data files: one YAML loader, one error style (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.classify import DEFAULT_RULES, ClassifierRules
from dispatch.datafile import DataFileError, read_yaml
from dispatch.orgfile import DEMO_ORG_PATH, OrgFileError, load_org_file, parse_org_text
from dispatch.points import DEFAULT_POINTS_PATH, RULES, PointRules, _RuleTable
from dispatch.policy import DEFAULT_POLICY, Policy


def _classifier_rules(path: Path) -> ClassifierRules:
    from dispatch.classify import _read_rules

    return _read_rules(path)


def test_the_shipped_data_files_load() -> None:
    assert load_org_file(DEMO_ORG_PATH).regions
    assert PointRules.load(DEFAULT_POINTS_PATH).points
    assert Policy.load(DEFAULT_POLICY).risk.keys() == {"general", "significant", "major"}
    assert _classifier_rules(DEFAULT_RULES).categories


def test_the_points_model_lists_every_rule_the_code_awards() -> None:
    assert tuple(_RuleTable.model_fields) == RULES


def test_the_loader_reports_each_repeated_key_with_its_line() -> None:
    document = read_yaml("a: 1\nb:\n  c: 2\n  c: 3\na: 4\n")
    assert [(d.line, d.column, d.key) for d in document.duplicates] == [(4, 3, "c"), (5, 1, "a")]
    assert document.data == {"a": 4, "b": {"c": 3}}  # the file is still read, last one wins


def test_an_alias_shared_or_looping_is_checked_once() -> None:
    assert read_yaml("x: &m {k: 1, k: 2}\ny: *m\n").duplicates[0].line == 1
    assert len(read_yaml("x: &m {k: 1, k: 2}\ny: *m\n").duplicates) == 1


def _copy_with(tmp_path: Path, source: Path, old: str, new: str) -> Path:
    text = source.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / source.name
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_a_repeated_key_is_refused_in_every_kind_of_file(tmp_path: Path) -> None:
    org = DEMO_ORG_PATH.read_text(encoding="utf-8") + "regions: []\n"
    with pytest.raises(OrgFileError) as org_error:
        parse_org_text(org)
    assert any(
        e.endswith(": duplicate key regions") and e.startswith("line ")
        for e in org_error.value.errors
    )

    cases = [
        (DEFAULT_POINTS_PATH, "  top: 3\n", "  top: 3\n  top: 4\n", "top: duplicate key"),
        (
            DEFAULT_POLICY,
            "digest_time:",
            "digest_time: '17:00'\ndigest_time:",
            "digest_time: duplicate key",
        ),
        (
            DEFAULT_RULES,
            "smoothing: 1\n",
            "smoothing: 1\nsmoothing: 2\n",
            "smoothing: duplicate key",
        ),
    ]
    for source, old, new, message in cases:
        path = _copy_with(tmp_path, source, old, new)
        with pytest.raises(DataFileError) as error:
            if source == DEFAULT_POINTS_PATH:
                PointRules.load(path)
            elif source == DEFAULT_POLICY:
                Policy.load(path)
            else:
                _classifier_rules(path)
        (line,) = error.value.errors
        assert line.startswith(f"{path}: line ")
        assert line.endswith(message)


def test_a_wrong_type_names_the_field_path(tmp_path: Path) -> None:
    path = _copy_with(tmp_path, DEFAULT_POLICY, "    accept: 2h\n", "    accept: [2h]\n")
    with pytest.raises(ValueError, match=r"sla\.yaml: risk\.significant\.accept: \['2h'\] is not"):
        Policy.load(path)

    path = _copy_with(tmp_path, DEFAULT_RULES, "smoothing: 1\n", "smoothing: one\n")
    with pytest.raises(ValueError, match=r"classifier\.yaml: smoothing: expected a number"):
        _classifier_rules(path)

    with pytest.raises(ValueError, match=r"^categories\.labor\.keywords\.欠薪: weight must be"):
        ClassifierRules.of({"categories": {"labor": {"keywords": {"欠薪": "3"}}}})


def test_every_policy_problem_is_reported_at_once() -> None:
    with pytest.raises(DataFileError) as error:
        Policy.parse({"quiet_hours": "22:00-7h", "risk": {"general": 1}, "categories": {"x": {}}})
    assert error.value.errors == [
        "quiet_hours: '7h' is not a time like 18:00",
        "risk.general: expected a mapping with keys accept, resolve, escalate_after, got int",
        "risk.significant: required key missing",
        "risk.major: required key missing",
        "categories.x: unknown category (known: family, neighbor, housing, contract, business,"
        " damages, land, expropriation, environment, labor, medical, traffic, property,"
        " consumer, other)",
    ]


def test_a_category_override_keeps_the_rest_of_its_risk_rule() -> None:
    policy = Policy.load()
    labor = policy.rule("general", "labor")
    assert labor.resolve != policy.risk["general"].resolve
    assert labor.accept == policy.risk["general"].accept
