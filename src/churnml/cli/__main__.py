"""``python -m churnml.cli``."""

from churnml.cli import main

main()
