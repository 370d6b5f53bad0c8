"""The WeChat custom menu: read from `handlers/data/wechat_menu.yaml`, checked against
WeChat's rules and our payloads, and turned into the body of WeChat's menu/create call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dispatch.payloads import Menu
from locales import DEFAULT, catalog, text

MENU_FILE = Path(__file__).parent / "data" / "wechat_menu.yaml"


class WeChatMenuError(Exception):
    """A menu file that cannot be used; the message names the file and the bad fields."""


class MenuButton(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    command: str | None = None
    sub_buttons: list[MenuButton] = Field(default_factory=list, max_length=5)

    @field_validator("label")
    @classmethod
    def _known_label(cls, label: str) -> str:
        if label not in catalog(DEFAULT):
            raise ValueError(f"no message {label!r} in locales/{DEFAULT}.yaml")
        return label

    @field_validator("command")
    @classmethod
    def _menu_command(cls, command: str | None) -> str | None:
        if command is not None and not Menu(command).valid():
            raise ValueError(f"{command!r} is not a main-menu command (ASCII letters, <= 16)")
        return command

    @model_validator(mode="after")
    def _command_or_group(self) -> MenuButton:
        if (self.command is None) == (not self.sub_buttons):
            raise ValueError("give either command or sub_buttons")
        if any(sub.sub_buttons for sub in self.sub_buttons):
            raise ValueError("WeChat menus are two levels deep: no sub_buttons under sub_buttons")
        return self

    def for_api(self, locale: str) -> dict[str, Any]:
        if self.command is None:
            return {
                "name": text(self.label, locale),
                "sub_button": [sub.for_api(locale) for sub in self.sub_buttons],
            }
        # Menu labels are short on WeChat: drop the emoji the chat buttons carry.
        label = text(self.label, locale).split(" ", 1)[-1]
        return {"type": "click", "name": label, "key": Menu(self.command).pack()}


class WeChatMenu(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    buttons: list[MenuButton] = Field(min_length=1, max_length=3)

    def for_api(self, locale: str) -> dict[str, Any]:
        """The JSON body of WeChat's menu/create call, with labels in `locale`."""
        return {"button": [button.for_api(locale) for button in self.buttons]}


def load_wechat_menu(path: Path = MENU_FILE) -> WeChatMenu:
    """The menu in `path`. Raises WeChatMenuError when the file cannot be read or parsed, or
    breaks a rule (one line per bad field, with its path: `buttons.1.sub_buttons.0.command`)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise WeChatMenuError(f"{path}: {exc}") from exc
    try:
        return WeChatMenu.model_validate(document)
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(part) for part in error['loc']) or '(file)'}: {error['msg']}"
            for error in exc.errors()
        ]
        raise WeChatMenuError(f"{path}:\n" + "\n".join(lines)) from exc


def wechat_menu(locale: str) -> dict[str, Any]:
    """The custom menu as WeChat's menu/create call takes it (a CLICK event carries the
    button's payload, handled like the Telegram main menu's buttons)."""
    return load_wechat_menu().for_api(locale)
