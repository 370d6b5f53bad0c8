"""Import aiogram without building every pydantic schema it declares.

aiogram declares some 630 pydantic models (every Bot API type and method) and builds all of
their validators as it is imported: about 80 % of `pingan run`'s start-up time and a third of
its memory, for types the bot never meets. `deferred_schemas()` wraps that import so that
each schema is built the first time it is used instead:

* pydantic's default `defer_build` is True for the models defined meanwhile (aiogram's
  methods do not set it; its types already do);
* `model_rebuild(_types_namespace=...)`, which aiogram calls on every type to resolve its
  forward references, builds nothing; its namespace is added to every aiogram module
  instead (never replacing a name), where the lazy build on first use finds the names.

Both are restored when the block ends, so models defined later (ours) build as usual. This
leans on two pydantic internals (`_config.config_defaults`, the `_types_namespace` argument);
when they are missing (another pydantic), the import simply builds everything as before.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)


@contextlib.contextmanager
def deferred_schemas() -> Iterator[None]:
    try:
        from pydantic import BaseModel
        from pydantic._internal import _config
    except ImportError:  # pragma: no cover - another pydantic: build as usual
        yield
        return
    defaults: dict[str, Any] = _config.config_defaults  # type: ignore[assignment]
    original = BaseModel.__dict__.get("model_rebuild")
    if "defer_build" not in defaults or not isinstance(original, classmethod):
        yield
        return
    rebuild = original.__func__
    captured: dict[str, Any] = {}

    def keep_namespace(
        cls: type[BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:
        if force or _types_namespace is None or cls.__pydantic_complete__:
            return rebuild(
                cls,
                force=force,
                raise_errors=raise_errors,
                _parent_namespace_depth=_parent_namespace_depth + 1,
                _types_namespace=_types_namespace,
            )
        captured.update(_types_namespace)
        return None

    was = defaults["defer_build"]
    defaults["defer_build"] = True
    BaseModel.model_rebuild = classmethod(keep_namespace)  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        defaults["defer_build"] = was
        BaseModel.model_rebuild = original  # type: ignore[method-assign,assignment]
        _share_namespace(captured)


def _share_namespace(names: dict[str, Any]) -> None:
    """Give every aiogram module the names aiogram resolves its forward references with.

    A schema built later, on first use, resolves each nested model's annotations in that
    model's module (and only the outermost model's own namespace), where aiogram imports
    many of the names under TYPE_CHECKING only. Existing names are left as they are."""
    if not names:
        return
    for name, module in list(sys.modules.items()):
        if module is not None and name.startswith("aiogram."):
            namespace = vars(module)
            for key, value in names.items():
                namespace.setdefault(key, value)
