"""The BentoML service: real-time scores and next-best-actions for the CRM.

Endpoints (JSON; schemas and examples at ``/docs.json`` and on the index page ``/``):

=====================  ======  =========================================================
``/score``             POST    one or many customers -> every output field, reason codes
``/next_best_action``  POST    the same input -> action, channel, value, control flag
``/score_batch``       POST    bulk scoring, per-customer cut-offs and errors
``/customers/{id}``    GET     the latest batch-scored row (``churnml score --publish``)
``/model``             GET     name, version, training dates, parameters and metrics
``/healthz`` ...       GET     BentoML's ``/livez``, ``/readyz``, ``/metrics`` stay on
=====================  ======  =========================================================

Configuration (environment variables, read when a worker starts):

- ``CHURNML_MODEL_URI``: the model, default ``models:/churnml@champion``; any
  ``models:/name@alias``, ``models:/name/N`` or run URI. MLflow's location comes
  from ``MLFLOW_TRACKING_URI`` or the embedded store in ``$CHURNML_HOME``.
- ``CHURNML_API_KEY``: when set, every endpoint except the health, readiness,
  metrics and documentation routes needs ``X-API-Key: <key>`` (or
  ``Authorization: Bearer <key>``); compared in constant time; 401 otherwise.
- ``CHURNML_MAX_REQUEST_BYTES``: largest accepted body (default 32 MiB; 413 beyond).
- ``CHURNML_WORKERS``: worker processes (default: one per CPU; each loads the model
  once and scores on one thread).
- ``CHURNML_SCORES_URL``: SQLAlchemy URL of the published score table (default
  SQLite ``$CHURNML_HOME/scores.db``), read by :mod:`churnml.scoring.publish`.

- ``OMP_NUM_THREADS``: 1 (``churnml serve`` and the Bento set it; each worker also limits
  its LightGBM models to one thread): more workers, not more threads, for throughput.

Answers: 200; 400 schema errors (malformed JSON, wrong types, missing or unknown
fields, bad dates, sizes beyond the documented limits) and 422 data errors (duplicate
customer ids, no purchase before ``as_of``), both naming the field in ``detail[].loc``;
401 without the API key; 404 unknown customer; 413 body too large; 415 not JSON;
503 no model loaded, or a request that waited over 30 s for its turn. Never a traceback.

Every scoring endpoint uses adaptive batching: concurrent requests wait briefly in the
worker and are scored in one call (:mod:`churnml.serving.batching` for ``/score`` and
``/next_best_action``, BentoML's own for ``/score_batch``); each still gets exactly the
answer, or the error, it would get alone.

The model is loaded once per worker in ``__init__``. If it cannot be loaded the
worker stays up, ``/readyz`` answers 503 with the reason, the scoring endpoints
answer 503 with the same reason, and nothing crash-loops; the lookup endpoint,
which does not need the model, keeps working.

Scores equal the batch scorer's for the same history, model version and ``as_of``
(the same :class:`~churnml.scoring.Scorer` runs). One caveat: a global campaign
budget or contact cap (``policy.budget`` / ``policy.max_contacts``) is allocated over
the customers *of one request* by ``/score`` (such requests are never merged) and of one
merged call by ``/score_batch``, not over the whole base as in a batch run; keep them
unset for real-time decisions, or use the batch run's published decision
(``/customers/{id}``).

Logs carry customer ids at most: request bodies and validation inputs are never
logged (the request models hide input values from error messages).
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Annotated, Any, cast

import bentoml
from bentoml.validators import ContentType
from fastapi import FastAPI
from fastapi import Path as PathParam
from pydantic import Field
from starlette.responses import JSONResponse, Response

from churnml.serving.middleware import RequestGuard
from churnml.serving.schemas import (
    EXAMPLE_REQUEST,
    MAX_BATCH_CUSTOMERS,
    MAX_ID_LENGTH,
    ActionResponse,
    BatchCustomer,
    BatchItem,
    ErrorResponse,
    ModelInfo,
    PublishedScore,
    ScoreRequest,
    ScoreResponse,
)
from churnml.serving.timeouts import release_request_timers
from churnml.system import available_cpus

with bentoml.importing():
    from churnml.errors import ChurnmlError
    from churnml.privacy.suppression import suppressed_among
    from churnml.scoring.scorer import Scorer
    from churnml.serving.batching import Overloaded, batched
    from churnml.serving.requests import (
        JobOutcome,
        RequestError,
        ScoreJob,
        action_response,
        score_batch,
        score_jobs,
        score_response,
    )

logger = logging.getLogger("churnml.serving")

DEFAULT_MODEL_URI = "models:/churnml@champion"
#: Customers per model call of ``score_batch`` (larger requests are split by BentoML).
BATCH_MAX_SIZE = 1_000
#: Longest a batched request may wait for and run its batch (largest batch ~ seconds).
BATCH_MAX_LATENCY_MS = 30_000

lookups = FastAPI(title="churnml lookups", docs_url=None, redoc_url=None, openapi_url=None)


def _workers() -> int:
    """``CHURNML_WORKERS``, else one worker per CPU this process may use.

    Scoring is CPU-bound Python (one request at a time per worker), so throughput
    and tail latency under concurrent requests come from workers: on two cores, two
    workers doubled single-customer requests/s and cut p99 at concurrency 8 from
    ~150 ms to ~65 ms (docs/benchmarks.md).
    """
    cpus = available_cpus()
    try:
        return max(1, int(os.environ.get("CHURNML_WORKERS", str(cpus))))
    except ValueError:
        return cpus


def _error(
    status: int, error: str, msg: str, loc: list[str | int] | None = None, kind: str | None = None
) -> JSONResponse:
    body = ErrorResponse.model_validate(
        {"error": error, "detail": [{"loc": loc or [], "msg": msg, "type": kind or error}]}
    )
    return JSONResponse(body.model_dump(), status_code=status)


@bentoml.service(
    name="churnml",
    workers=_workers(),
    traffic={"timeout": 60},
)
@bentoml.asgi_app(lookups, path="/")
class ChurnService:
    """churnml scoring service: churn risk, CLV and next-best-action for CRM systems.

    Send customers with their order history (and optionally events, consent flags
    and past campaign contacts) to ``/score`` or ``/next_best_action``. Schema errors
    answer 400 and data errors 422, both as ``{"error": ..., "detail": [{"loc": [...],
    "msg": ..., "type": ...}]}`` where ``loc`` is the path of the offending field.
    """

    def __init__(self) -> None:
        self.model_uri = os.environ.get("CHURNML_MODEL_URI", DEFAULT_MODEL_URI)
        self.scorer: Scorer | None = None
        self.load_error: str | None = None
        # The dispatcher binds to the worker's event loop on its first call, not here.
        self._batched: Callable[[ScoreJob], Awaitable[list[dict[str, Any]]]] = batched(
            self._score_jobs
        )
        _configure_logging()
        try:
            from churnml.scoring.worker import prepared_scorer
            from churnml.tracking.pyfunc import load_bundle
            from churnml.tracking.store import configure_mlflow

            configure_mlflow()
            bundle = load_bundle(self.model_uri)
            # One LightGBM thread per worker: parallelism comes from server workers, and
            # OpenMP start-up costs 10-20 ms a call on small requests (same predictions).
            self.scorer = prepared_scorer(bundle, threads=1)
            logger.info(
                "loaded %s version %s from %s",
                bundle.model_name,
                bundle.model_version,
                self.model_uri,
            )
            self._warm_up()
        except ChurnmlError as err:
            self.load_error = f"no model loaded from {self.model_uri}: {err}"
        except Exception as err:  # a broken store or artifact must not crash-loop the worker
            self.load_error = (
                f"no model loaded from {self.model_uri}: {type(err).__name__}: {str(err)[:300]}"
            )
        if self.load_error:
            logger.error(
                "%s; /readyz answers 503 until the service is restarted with a model",
                self.load_error,
            )
        # Objects alive now (modules, model) never need collecting: keep them out of
        # the full collections that otherwise cause latency spikes.
        gc.collect()
        gc.freeze()

    def _warm_up(self) -> None:
        """Score the documented example once, so the first real request is not the slow one."""
        try:
            request = ScoreRequest.model_validate(EXAMPLE_REQUEST)
            assert self.scorer is not None and request.as_of is not None
            score_jobs(self.scorer, [ScoreJob(request.customers, request.as_of)])
        except Exception as err:  # warm-up is an optimisation, never a reason to fail
            logger.warning("warm-up request failed: %s", type(err).__name__)

    def __is_ready__(self) -> bool:
        """Ready once a model is loaded; the reason otherwise is in ``/readyz`` and the log."""
        return self.scorer is not None

    # ------------------------------------------------------------------- scoring

    async def _score(
        self, endpoint: str, request: ScoreRequest
    ) -> tuple[list[dict[str, Any]], dt.date] | Response:
        """Scorer rows of the request's customers, or the error response to send instead.

        The request waits in the worker's batcher (:mod:`churnml.serving.batching`)
        and is scored together with the requests that arrived meanwhile.
        """
        if self.scorer is None:
            return _error(503, "model_not_loaded", self.load_error or "no model loaded")
        as_of = request.as_of or dt.date.today()
        try:
            return await self._batched(ScoreJob(request.customers, as_of)), as_of
        except Overloaded as err:
            return _error(503, "overloaded", str(err))
        except _SuppressionUnavailable as err:
            return _error(503, "suppression_list_unavailable", str(err))
        except RequestError as err:
            logger.info(
                "%s: %d %s (%d customers)", endpoint, err.status, err.error, len(request.customers)
            )
            return JSONResponse(err.body(), status_code=err.status)
        except ChurnmlError as err:  # the inputs cannot be scored (not a server fault)
            logger.info(
                "%s: 422 %s (%d customers)", endpoint, type(err).__name__, len(request.customers)
            )
            return _error(422, "cannot_score", str(err).splitlines()[0][:500], ["customers"])

    def _score_jobs(self, jobs: Sequence[ScoreJob]) -> list[JobOutcome]:
        """The batch function behind ``/score`` and ``/next_best_action`` (a worker thread)."""
        try:
            scorer = self._scorer_for(c.customer_id for job in jobs for c in job.customers)
        except ChurnmlError as err:
            return [_SuppressionUnavailable(str(err)[:500])] * len(jobs)
        return score_jobs(scorer, jobs)

    def _scorer_for(self, customer_ids: Iterable[str]) -> Scorer:
        """The scorer for these customers: one that never contacts the suppressed among them.

        The suppression list is read for every batch (one indexed lookup), so a
        ``churnml forget`` takes effect at once, without a restart.
        """
        assert self.scorer is not None
        suppressed = suppressed_among(customer_ids)
        if not suppressed.ids:
            return self.scorer
        return Scorer(self.scorer.bundle.with_suppressed(suppressed.ids))

    @bentoml.api(route="/score", output_spec=ScoreResponse)
    async def score(self, request: ScoreRequest, /) -> ScoreResponse | Response:
        """Score one or many customers: LTV, churn probability with reason codes, segment,
        value tier, next best action, and the model's name and version.

        ``as_of`` is the exclusive cut-off (default: today). Every customer needs a
        purchase before it (422 naming ``customers.<i>.orders`` otherwise).
        """
        scored = await self._score("score", request)
        if isinstance(scored, Response):
            return scored
        assert self.scorer is not None
        rows, as_of = scored
        b = self.scorer.bundle
        return score_response(rows, as_of, b.model_name, b.model_version)

    @bentoml.api(route="/next_best_action", output_spec=ActionResponse)
    async def next_best_action(self, request: ScoreRequest, /) -> ActionResponse | Response:
        """The next best action of each customer: action, channel, expected incremental
        value, control-group flag and reason, with every guardrail applied (consent,
        recent purchase, cool-down and contact caps from ``campaigns``).
        """
        scored = await self._score("next_best_action", request)
        if isinstance(scored, Response):
            return scored
        assert self.scorer is not None
        rows, as_of = scored
        b = self.scorer.bundle
        return action_response(rows, as_of, b.model_name, b.model_version)

    @bentoml.api(
        route="/score_batch",
        batchable=True,
        max_batch_size=BATCH_MAX_SIZE,
        max_latency_ms=BATCH_MAX_LATENCY_MS,
    )
    # The declared media type spares BentoML from deriving it from the JSON schema of
    # list[BatchItem], which it otherwise rebuilds for every response.
    def score_batch(
        self,
        customers: Annotated[
            list[BatchCustomer], Field(min_length=1, max_length=MAX_BATCH_CUSTOMERS)
        ],
    ) -> Annotated[list[BatchItem], ContentType("application/json")]:
        """Bulk scoring: concurrent calls are merged into larger model calls (adaptive batching).

        Each customer carries its own optional ``as_of``. One item per customer comes
        back, in order, with either ``result`` or ``error`` (locations relative to
        the customer): a customer without a purchase before its ``as_of`` does not
        fail the other customers of the batch. Schema errors still answer 400.
        """
        if self.scorer is None:
            error = ErrorResponse.model_validate(
                {
                    "error": "model_not_loaded",
                    "detail": [
                        {
                            "loc": [],
                            "msg": self.load_error or "no model loaded",
                            "type": "model_not_loaded",
                        }
                    ],
                }
            )
            return [BatchItem(customer_id=c.customer_id, error=error) for c in customers]
        try:
            scorer = self._scorer_for(c.customer_id for c in customers)
        except ChurnmlError as err:
            error = ErrorResponse.model_validate(
                {
                    "error": "suppression_list_unavailable",
                    "detail": [{"loc": [], "msg": str(err)[:500], "type": "unavailable"}],
                }
            )
            return [BatchItem(customer_id=c.customer_id, error=error) for c in customers]
        return score_batch(scorer, customers, dt.date.today())

    # ------------------------------------------------------------------- lookups

    @lookups.get(
        "/model",
        response_model=ModelInfo,
        tags=["Service APIs"],
        responses={503: {"model": ErrorResponse, "description": "No model loaded"}},
    )
    def model(self) -> Any:
        """The loaded model: name, version, training dates, parameters and metrics."""
        if self.scorer is None:
            return _error(503, "model_not_loaded", self.load_error or "no model loaded")
        return ModelInfo.model_validate(
            {**_finite(self.scorer.bundle.describe()), "model_uri": self.model_uri}
        )

    @lookups.get(
        "/customers/{customer_id}",
        response_model=PublishedScore,
        tags=["Service APIs"],
        responses={
            404: {"model": ErrorResponse, "description": "No published score for this customer"},
            503: {"model": ErrorResponse, "description": "Score table unavailable"},
        },
    )
    def customer(
        self, customer_id: Annotated[str, PathParam(min_length=1, max_length=MAX_ID_LENGTH)]
    ) -> Any:
        """The latest batch-scored row of a customer, from the table ``churnml score --publish`` writes."""
        try:
            from churnml.scoring.publish import latest_score

            row = latest_score(customer_id.strip())
        except ImportError:
            return _error(
                503, "scores_unavailable", "this churnml build cannot read published scores"
            )
        except ChurnmlError as err:
            return _error(503, "scores_unavailable", str(err))
        except (
            Exception
        ) as err:  # a database that is down is not the client's fault, nor a bug here
            logger.warning("score table lookup failed: %s", type(err).__name__)
            return _error(
                503, "scores_unavailable", f"the score table cannot be read ({type(err).__name__})"
            )
        if row is None:
            return _error(
                404, "not_found", "no published score for this customer", ["path", "customer_id"]
            )
        return PublishedScore.model_validate(_published(row))


cast("bentoml.Service[Any]", ChurnService).add_asgi_middleware(RequestGuard)
# A finished request must not stay alive for the whole traffic timeout (see the module).
release_request_timers()


class _SuppressionUnavailable(ChurnmlError):
    """The suppression list could not be read: nobody may be scored for contact."""


def _finite(value: Any) -> Any:
    """NaN and infinities (undefined metrics) as null, recursively."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def _published(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the response model expects it (reasons parsed, dates as text)."""
    import json

    out = {
        k: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v)
        for k, v in _finite(dict(row)).items()
    }
    if isinstance(out.get("churn_reasons"), str):
        try:
            out["churn_reasons"] = json.loads(out["churn_reasons"])
        except ValueError:
            out["churn_reasons"] = None
    if "customer_id" in out:
        out["customer_id"] = str(out["customer_id"])
    if out.get("model_version") is not None:
        out["model_version"] = str(out["model_version"])
    return out


class _HideInputs(logging.Filter):
    """Turn BentoML's "exception on /score" tracebacks for client errors into one line.

    A pydantic error's traceback can quote request values; a client error is not a
    server fault worth a traceback. Real server errors keep theirs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from bentoml.exceptions import BentoMLException
        from pydantic import ValidationError

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ValidationError):
            locs = ", ".join(".".join(map(str, e["loc"])) or "body" for e in exc.errors()[:5])
            record.msg = f"{record.getMessage()}: {exc.error_count()} validation error(s) at {locs}"
        elif isinstance(exc, BentoMLException) and exc.error_code.value < 500:
            record.msg = f"{record.getMessage()}: {exc.error_code.value} {type(exc).__name__}"
        else:
            return True
        record.args = ()
        record.levelno, record.levelname = (
            logging.WARNING,
            "WARNING",
        )  # the client's fault, not ours
        record.exc_info = None
        record.exc_text = None
        return True


def _configure_logging() -> None:
    """churnml's INFO messages in the server log; client errors as one line without inputs."""
    churnml_log = logging.getLogger("churnml")
    if churnml_log.level == logging.NOTSET:
        churnml_log.setLevel(logging.INFO)
    log = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, _HideInputs) for f in log.filters):
        log.addFilter(_HideInputs())
