"""`python -m cli`: the `kronos-forecast` command."""

from cli import main

main()
