"""Who may do what, by role: the sets that commands declare, and the two questions the
dialogs ask of a person (staff or not, leader or not). Every other right is checked by the
domain (dispatch/) against the case itself."""

from __future__ import annotations

from typing import Final

from dispatch.vocab import ROLES, STAFF_ROLES
from storage.models import Person

EVERYONE: Final = frozenset(ROLES)
STAFF: Final = frozenset(STAFF_ROLES)
LEADERS: Final = frozenset({"leader"})


def is_staff(person: Person) -> bool:
    return person.role in STAFF


def is_leader(person: Person) -> bool:
    return person.role in LEADERS
