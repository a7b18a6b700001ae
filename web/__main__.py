"""`python -m web ...` runs the `flowdesk` command line (used to start the stack's children)."""

from web.cli import main

main()
