"""`python -m bot.cli`: the `pingan` command without the installed script."""

from bot.cli import main

main()
