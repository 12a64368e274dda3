"""`python -m flows` runs the docpipe CLI."""

from flows.cli import main

main()
