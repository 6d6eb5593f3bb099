"""The HTTP front door: a BentoML service over the one scorer.

- :mod:`churnml.serving.schemas`: pydantic request and response models, with examples;
- :mod:`churnml.serving.requests`: requests -> validated tables -> scorer -> responses;
- :mod:`churnml.serving.batching`: concurrent ``/score`` requests merged into one scorer call;
- :mod:`churnml.serving.payload`: request bodies from contract tables, for clients;
- :mod:`churnml.serving.service`: the ``@bentoml.service`` class ``ChurnService``;
- :mod:`churnml.serving.middleware`: API key, request size limits, readiness reason;
- :func:`serve`: start it (``churnml serve``).

Importing this package is cheap: BentoML and the models load only in the service.
"""

from churnml.serving.run import SERVICE_TARGET, serve, serve_command

__all__ = ["SERVICE_TARGET", "serve", "serve_command"]
