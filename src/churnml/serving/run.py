"""Start the HTTP service: ``churnml serve`` calls :func:`serve`."""

from __future__ import annotations

import os
import shutil
import sys

#: Import path of the service class for ``bentoml serve``.
SERVICE_TARGET = "churnml.serving.service:ChurnService"


def serve_command(host: str = "127.0.0.1", port: int = 3000) -> list[str]:
    """The ``bentoml serve`` command line of the churnml service."""
    bentoml = shutil.which("bentoml", path=os.path.dirname(sys.executable)) or shutil.which(
        "bentoml"
    )
    launcher = [bentoml] if bentoml else [sys.executable, "-m", "bentoml"]
    return [*launcher, "serve", SERVICE_TARGET, "--host", host, "--port", str(port)]


def serve_environment(
    model_uri: str | None = None,
    api_key: str | None = None,
    workers: int | None = None,
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of the server process: the caller's, plus the given settings.

    Defaults (kept when already set): one OpenMP thread per worker (``OMP_NUM_THREADS=1``:
    LightGBM's thread start-up costs ~10-20 ms per call on small requests, and
    parallelism comes from workers), and BentoML's usage tracking off.
    """
    env = dict(os.environ if base is None else base)
    if model_uri:
        env["CHURNML_MODEL_URI"] = model_uri
    if api_key:
        env["CHURNML_API_KEY"] = api_key
    if workers:
        env["CHURNML_WORKERS"] = str(workers)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("BENTOML_DO_NOT_TRACK", "true")
    return env


def serve(
    host: str = "127.0.0.1",
    port: int = 3000,
    model_uri: str | None = None,
    api_key: str | None = None,
    workers: int | None = None,
) -> None:
    """Replace this process by ``bentoml serve`` of the churnml service (does not return).

    Parameters
    ----------
    host, port
        Where to listen (default loopback only).
    model_uri
        Model to load, e.g. ``models:/churnml@challenger`` (default: the
        ``CHURNML_MODEL_URI`` environment variable, else ``models:/churnml@champion``).
    api_key
        Require this key in ``X-API-Key`` (default: ``CHURNML_API_KEY``, else no key).
        Prefer the environment variable: a command-line argument is visible to
        other users of the machine.
    workers
        Worker processes (default ``CHURNML_WORKERS``, else one per CPU), each with its own
        model copy.
    """
    command = serve_command(host, port)
    env = serve_environment(model_uri, api_key, workers)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(command[0], command, env)
