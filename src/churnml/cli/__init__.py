"""The ``churnml`` command line: thin wrappers over the library.

``_app`` holds the typer application and what every command shares; each other
module registers the commands of one job on it when imported.
"""

from churnml.cli import (  # noqa: F401  (registers the commands)
    campaigns,
    forget,
    models,
    monitor,
    report,
    scoring,
)
from churnml.cli._app import app, main

__all__ = ["app", "main"]
