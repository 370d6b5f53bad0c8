"""The WeChat custom menu as data: the shipped file gives WeChat's menu/create body with our
main-menu payloads as keys, and a broken file is refused with the path of the bad field."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatch.payloads import Menu, parse
from handlers.wechat_menu import WeChatMenuError, load_wechat_menu, wechat_menu


def test_the_shipped_menu_in_both_locales() -> None:
    for locale in ("zh_CN", "en"):
        menu = wechat_menu(locale)
        assert len(menu["button"]) <= 3
        clicks = [s for b in menu["button"] for s in b.get("sub_button", [b])]
        assert all(c["type"] == "click" for c in clicks)
        # Every key comes back as the main-menu command it was packed from.
        assert all(isinstance(parse(c["key"]), Menu) for c in clicks)
    # Labels are short on WeChat: the emoji of the chat buttons is dropped.
    labels = [s["name"] for b in wechat_menu("zh_CN")["button"] for s in b.get("sub_button", [b])]
    assert labels == ["我要反映", "查询进度", "我的反映", "我的任务", "帮助"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("buttons:\n  - label: menu.report\n    command: re-port\n", "buttons.0.command"),
        ("buttons:\n  - label: menu.nothing\n    command: report\n", "buttons.0.label"),
        ("buttons:\n  - label: menu.report\n", "either command or sub_buttons"),
        (
            "buttons:\n" + "  - label: menu.report\n    command: report\n" * 4,
            "buttons: List should have at most 3 items",
        ),
        ("buttons: [\n", "wechat_menu.yaml"),
    ],
    ids=["bad-command", "unknown-label", "neither", "too-many", "not-yaml"],
)
def test_a_broken_menu_file_names_the_bad_field(tmp_path: Path, body: str, says: str) -> None:
    path = tmp_path / "wechat_menu.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(WeChatMenuError, match=r"wechat_menu\.yaml") as raised:
        load_wechat_menu(path)
    assert says in str(raised.value)
