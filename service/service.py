"""BentoML entry point of ``bentofile.yaml``: the service lives in the library."""

from churnml.serving.service import ChurnService

__all__ = ["ChurnService"]
