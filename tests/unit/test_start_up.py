"""What `pingan run` defers to start fast: aiogram's pydantic schemas (built on first use) and
jieba's dictionary (built in a thread once the bot is ready). Deferred must mean the same
answers, not missing ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dispatch.classify import Classifier

ROOT = Path(__file__).resolve().parents[2]

# In a fresh interpreter: aiogram imported under deferred_schemas(), then every Bot API type
# and method built (as a first use would), and an update parsed; prints how many failed.
_EVERY_MODEL = r"""
from bot.lazy_models import deferred_schemas
with deferred_schemas():
    import bot.runner
from aiogram import methods, types
from aiogram.methods.base import Response
from aiogram.types import Update
built, failed = 0, []
for module in (methods, types):
    for name in module.__all__:
        model = getattr(module, name)
        if hasattr(model, "model_rebuild") and not getattr(model, "__pydantic_complete__", True):
            try:
                model.model_rebuild(raise_errors=True)
                built += 1
            except Exception as exc:
                failed.append(f"{name}: {exc}")
update = Response[list[Update]].model_validate({"ok": True, "result": [{"update_id": 7,
    "message": {"message_id": 1, "date": 1, "chat": {"id": 5, "type": "private"},
    "from": {"id": 5, "is_bot": False, "first_name": "a"}, "text": "您好"}}]})
print(built, len(failed), update.result[0].message.text)
print("\n".join(failed[:5]))
"""


def test_every_aiogram_model_builds_on_first_use_after_a_deferred_import() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _EVERY_MODEL],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    built, failed, text = done.stdout.splitlines()[0].split()
    assert int(built) > 500  # they were deferred, and now they are built
    assert int(failed) == 0, done.stdout
    assert text == "您好"


def test_a_deferred_dictionary_classifies_as_the_eager_one() -> None:
    eager = Classifier.load()
    before_warm_up, warmed = Classifier.load(deferred=True), Classifier.load(deferred=True)
    warmed.warm_up()
    reports = ("老板拖欠我们三个月工资一直不给", "邻居把围墙往我家地里砌了半米，说了几次都不听")
    for report in reports:
        expected = eager.classify(report)
        assert before_warm_up.classify(report) == expected  # built on the spot
        assert warmed.classify(report) == expected  # built in the thread, waited for
