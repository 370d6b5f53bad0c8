"""Old home of the message router, kept only so that `from dialogs.engine import handle` in
tests/conftest.py works until that import is changed to dialogs.router; then delete it."""

from dialogs.router import handle

__all__ = ["handle"]
