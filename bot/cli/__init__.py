"""The `pingan` command line: the root group and shared database context in `root`, one
module per group of commands. Importing this package registers them all on `main`."""

from bot.cli import (
    cases,
    database,
    doctor,
    grids,
    jobs,
    keypersons,
    org,
    outbox,
    people,
    person,
    run,
    wechat,
)
from bot.cli.root import main

__all__ = [
    "cases",
    "database",
    "doctor",
    "grids",
    "jobs",
    "keypersons",
    "main",
    "org",
    "outbox",
    "people",
    "person",
    "run",
    "wechat",
]
