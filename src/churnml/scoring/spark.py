"""Batch scoring with Spark: the one scorer applied to customer buckets of any size.

:func:`score_spark` reads the input tables (Parquet, or CSV), tags their rows
with the table they come from and a global row number, and unions them into one
wide frame. Rows are grouped by a hash bucket of ``customer_id`` so that every
row of a customer, from every table, reaches the same group; ``applyInPandas``
then runs, per group, exactly what the pandas engine and the HTTP service run:
the contract validators (:mod:`churnml.data.contract`) and
:meth:`Scorer.score <churnml.scoring.scorer.Scorer.score>`.

- The model bundle is broadcast once, as the bytes of its saved folder; each
  Python worker loads it once and keeps the :class:`Scorer` in a private cache
  keyed by the bundle's digest.
- Validation problems found in any group come back to the driver with global,
  1-based row numbers and are raised as one
  :class:`~churnml.errors.DataValidationError` before the output is written.
- A campaign budget (``policy.budget`` / ``policy.max_contacts``) is applied over
  all groups once they are scored, with the pandas engine's functions
  (:mod:`churnml.actions.budget`).
- The output is written as Parquet to a hidden folder beside the destination and
  renamed into place (Hadoop ``FileSystem.rename``; atomic on HDFS and local
  disks, a copy on object stores such as S3).

Rows of one customer keep their input order inside a group (by the global row
number), so the scores are those of the pandas engine; see
``tests/test_spark_parity.py``. Parquet timestamps must be in microseconds (Spark
does not read nanoseconds); timestamps with a time zone are read in the session's
time zone (UTC for a session created here), naive ones as they are.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from churnml.actions.budget import (
    CANDIDATE_COLUMNS,
    Budget,
    apply_budget,
    candidates,
    funded_customers,
)
from churnml.actions.catalogue import NO_ACTION
from churnml.data.contract import InputTables
from churnml.data.readers import (
    TABLES,
    ProblemLog,
    parse_csv_frame,
    schema_problems,
    validator_for,
)
from churnml.errors import ChurnmlError, DataValidationError, Problem
from churnml.scoring.batch import DEFAULT_CHUNK_CUSTOMERS, BatchSummary
from churnml.scoring.bundle import ModelBundle
from churnml.scoring.output import BOOL_OUTPUTS, FLOAT_OUTPUTS
from churnml.scoring.scorer import OUTPUT_COLUMNS, Scorer
from churnml.scoring.worker import worker_scorer
from churnml.system import reraise_interruption

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

PathLike = str | os.PathLike[str]

_META = "_meta"  # JSON of a problem or of a group's counts; null on score rows
_MAX_BUCKETS = 100_000


# ------------------------------------------------------------------------ executor side
def _scorer(payload: dict[str, Any]) -> Scorer:
    """The scorer of a broadcast bundle, loaded once per Python worker."""

    def load() -> ModelBundle:
        with tempfile.TemporaryDirectory(prefix="churnml-bundle-") as d:
            for name, data in payload["files"].items():
                (Path(d) / name).write_bytes(data)
            bundle = ModelBundle.load(d, model_version=payload["version"])
        bundle.model_name = payload["name"]
        return bundle

    return worker_scorer(payload["key"], load, payload["threads"])


@dataclass(frozen=True)
class _TableSpec:
    name: str
    columns: tuple[tuple[str, str], ...]  # (original name, prefixed name in the union)
    csv: bool


@dataclass(frozen=True)
class _Plan:
    """Everything a group needs besides the bundle (pickled into the UDF)."""

    as_of: str
    tables: tuple[_TableSpec, ...]
    strict_events: bool
    score: bool


def _meta_frame(items: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series([None] * len(items), dtype=object) for c in OUTPUT_COLUMNS})
    frame[_META] = [json.dumps(i) for i in items]
    return frame


def _score_group(pdf: pd.DataFrame, payload: Any, plan: _Plan) -> pd.DataFrame:
    """Validate and score one bucket of customers (runs on the executors)."""
    problems: list[dict[str, Any]] = []
    parts: dict[str, pd.DataFrame] = {}
    for spec in plan.tables:
        sub = pdf.loc[pdf["_table"] == spec.name]
        if sub.empty:
            continue
        sub = sub.sort_values("_row", kind="stable")
        rows = sub["_row"].to_numpy()
        raw = pd.DataFrame({orig: sub[pref].to_numpy() for orig, pref in spec.columns})
        if spec.csv:
            raw = parse_csv_frame(raw)
        try:
            parts[spec.name] = validator_for(spec.name, plan.strict_events)(raw)
        except DataValidationError as err:
            for p in err.problems:
                problems.append(
                    {
                        "problem": [
                            p.table,
                            p.column,
                            p.message,
                            p.count,
                            [int(rows[r - 1]) for r in p.rows],
                        ]
                    }
                )
    if problems:
        return _meta_frame(problems)
    tx = parts.get("transactions")
    if not plan.score or tx is None:
        return _meta_frame([])
    scorer = _scorer(payload.value)
    tables = InputTables(tx, parts.get("customers"), parts.get("events"), parts.get("campaigns"))
    scores = scorer.score(tables, plan.as_of)
    unscored = int(tx["customer_id"].nunique()) - len(scores)
    scores = scores[list(OUTPUT_COLUMNS)].astype({c: bool for c in BOOL_OUTPUTS})
    scores[_META] = None
    stats = _meta_frame([{"scored": len(scores), "unscored": unscored}])
    return pd.concat([scores.astype(object), stats], ignore_index=True)


# --------------------------------------------------------------------------- driver side
def _spark_schema() -> Any:
    from pyspark.sql import types as T

    def spark_type(column: str) -> Any:
        if column in FLOAT_OUTPUTS:
            return T.DoubleType()
        return T.BooleanType() if column in BOOL_OUTPUTS else T.StringType()

    fields = [T.StructField(c, spark_type(c), True) for c in OUTPUT_COLUMNS]
    return T.StructType([*fields, T.StructField(_META, T.StringType(), True)])


def bundle_payload(bundle: ModelBundle, threads: int = 1) -> dict[str, Any]:
    """The bundle as the bytes of its saved folder, with a digest to key caches, and the
    threads each task may give its boosters (``spark.task.cpus``)."""
    with tempfile.TemporaryDirectory(prefix="churnml-bundle-") as d:
        bundle.save(d)
        files = {p.name: p.read_bytes() for p in sorted(Path(d).iterdir()) if p.is_file()}
    digest = hashlib.sha256()
    for name, data in files.items():
        digest.update(name.encode() + b"\0" + data)
    digest.update(f"{bundle.model_name}\0{bundle.model_version}".encode())
    return {
        "key": digest.hexdigest(),
        "files": files,
        "name": bundle.model_name,
        "version": str(bundle.model_version),
        "threads": threads,
    }


@contextmanager
def _session(
    master: str | None, spark: SparkSession | None, progress: bool
) -> Iterator[SparkSession]:
    """The given session, the active one, or a new one (stopped at the end).

    ``master=None`` leaves the master to ``spark-submit`` (or ``spark-defaults.conf``)
    when the driver was launched by it, and uses ``local[*]`` otherwise.
    """
    from pyspark.sql import SparkSession

    if spark is not None:
        yield spark
        return
    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    under_submit = "PYSPARK_GATEWAY_PORT" in os.environ  # set by spark-submit for its driver
    builder = (
        SparkSession.builder.appName("churnml-score")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", str(progress).lower())
    )
    if master is not None or not under_submit:
        master = master or "local[*]"
        builder = builder.master(master)
        if master.startswith("local"):
            # Local Python workers must run this interpreter (the one with churnml
            # installed); PySpark takes it from PYSPARK_PYTHON (a cluster sets its own).
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


class _FileSystem:
    """Hadoop FileSystem calls through the JVM (local disk, HDFS, S3A, ...)."""

    def __init__(self, spark: SparkSession):
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _fs(self, path: str) -> tuple[Any, Any]:
        jpath = self._jvm.org.apache.hadoop.fs.Path(path)  # type: ignore[union-attr]
        return jpath.getFileSystem(self._conf), jpath

    def exists(self, path: str) -> bool:
        fs, p = self._fs(path)
        return bool(fs.exists(p))

    def is_dir(self, path: str) -> bool:
        fs, p = self._fs(path)
        return bool(fs.exists(p) and fs.getFileStatus(p).isDirectory())

    def delete(self, path: str) -> None:
        fs, p = self._fs(path)
        if fs.exists(p):
            fs.delete(p, True)

    def rename(self, src: str, dst: str) -> bool:
        fs, s = self._fs(src)
        return bool(fs.rename(s, self._fs(dst)[1]))


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")


def _path_str(path: PathLike) -> str:
    """A URI as given (``hdfs://nn/x``, ``s3a://b/x``; also ``hdfs:/x`` as ``pathlib`` leaves
    it), else an absolute local path."""
    text = os.fspath(path)
    return text if _URI.match(text) else str(Path(text).absolute())


def _format_of(path: str, fs: _FileSystem) -> str | None:
    lower = path.lower().rstrip("/")
    if lower.endswith((".csv", ".csv.gz", ".csv.bz2")):
        return "csv"
    if lower.endswith((".parquet", ".pq")) or fs.is_dir(path):
        return "parquet"
    return None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def _read(spark: SparkSession, name: str, path: str, fs: _FileSystem) -> tuple[DataFrame, bool]:
    if not fs.exists(path):
        raise DataValidationError([Problem(name, "*", f"file not found: {path}", 1)])
    fmt = _format_of(path, fs)
    if fmt is None:
        raise DataValidationError(
            [Problem(name, "*", f"unsupported file type of {path} (use .csv or .parquet)", 1)]
        )
    try:
        if fmt == "csv":
            return spark.read.option("header", True).option("inferSchema", False).csv(path), True
        return spark.read.parquet(path), False
    except Exception as err:  # AnalysisException and friends: unreadable input
        reraise_interruption(err)
        raise DataValidationError(
            [Problem(name, "*", f"cannot read {path}: {_first_line(err)}", 1)]
        ) from None


def _with_row_numbers(spark: SparkSession, df: DataFrame) -> tuple[DataFrame, int]:
    """A global 1-based ``_row`` in read order (partition offsets from one counting job)."""
    from pyspark.sql import functions as F

    mid = F.monotonically_increasing_id()
    df = df.withColumn("_mid", mid).withColumn("_pid", F.shiftright(F.col("_mid"), 33))
    counts = sorted((int(r["_pid"]), int(r["count"])) for r in df.groupBy("_pid").count().collect())
    offsets, total = [], 0
    for pid, count in counts:
        offsets.append((pid, total))
        total += count
    if not offsets:
        return df.drop("_mid", "_pid").withColumn("_row", F.lit(0).cast("long")), 0
    mapping = spark.createDataFrame(offsets, "_pid long, _off long")
    df = df.join(F.broadcast(mapping), "_pid").withColumn(
        "_row", F.col("_mid") - F.shiftleft(F.col("_pid"), 33) + F.col("_off") + 1
    )
    return df.drop("_mid", "_pid", "_off"), total


def score_spark(
    transactions: PathLike,
    customers: PathLike | None = None,
    events: PathLike | None = None,
    campaigns: PathLike | None = None,
    *,
    as_of: pd.Timestamp | str,
    output: PathLike,
    bundle: ModelBundle,
    master: str | None = "local[*]",
    chunk_customers: int = DEFAULT_CHUNK_CUSTOMERS,
    spark: SparkSession | None = None,
    strict_events: bool = False,
    progress: bool = True,
) -> BatchSummary:
    """Score every customer with Spark and write one Parquet row each to ``output``.

    Parameters
    ----------
    transactions, customers, events, campaigns
        Parquet files or folders (or CSV files with a header); paths may carry a
        scheme such as ``hdfs://`` or ``s3a://``. Only ``transactions`` is required.
    as_of
        Exclusive scoring cut-off.
    output
        Destination folder of Parquet parts (e.g. ``scores.parquet``); replaced
        only once the new scores are complete.
    bundle
        The model; broadcast once to the executors.
    master
        Spark master when a session has to be created: ``local[*]``, ``local[2]``,
        ``None`` (whatever ``spark-submit`` or ``spark-defaults.conf`` says),
        ``spark://host:7077``, ``yarn``, ``k8s://...``.
    chunk_customers
        Customers per group (the unit a Python worker holds in memory).
    spark
        An existing session to use (default: the active one, else a new one that
        is stopped at the end).
    strict_events
        Reject unknown event types.
    progress
        Spark's console progress bar (for a session created here).

    Raises
    ------
    DataValidationError
        Every problem of every input, with global row numbers; nothing is written.
    ChurnmlError
        Unsupported output or a failed Spark job.
    """
    started = time.perf_counter()
    cutoff = pd.Timestamp(as_of).normalize()
    budget = bundle.budget
    if budget:
        bundle = bundle.without_budget()  # planned per group, the budget applied over all
    out = _path_str(output)
    if out.lower().rstrip("/").endswith((".csv", ".csv.gz")):
        raise ChurnmlError(
            "the Spark engine writes Parquet: give an output path ending in .parquet"
        )
    paths = {
        "transactions": transactions,
        "customers": customers,
        "events": events,
        "campaigns": campaigns,
    }

    with _session(master, spark, progress) as session:
        from pyspark.sql import functions as F

        fs = _FileSystem(session)
        log = ProblemLog()
        frames: dict[str, tuple[DataFrame, bool, int]] = {}
        for name in TABLES:
            p = paths[name]
            if p is None:
                continue
            try:
                df, is_csv = _read(session, name, _path_str(p), fs)
                columns = schema_problems(name, list(df.columns), strict_events)
                for problem in columns:
                    log.add(problem)
                if columns:
                    continue
                try:
                    df, n_rows = _with_row_numbers(session, df)
                except Exception as err:  # the first job that reads every row
                    reraise_interruption(err)
                    message = f"cannot read {p}: {_first_line(err)}"
                    if "TIMESTAMP(NANOS" in message:
                        message += (
                            " (Spark reads microsecond timestamps: write the file with "
                            "to_parquet(..., coerce_timestamps='us', allow_truncated_timestamps=True))"
                        )
                    raise DataValidationError([Problem(name, "*", message, 1)]) from None
            except DataValidationError as err:
                for problem in err.problems:
                    log.add(problem)
                continue
            if n_rows == 0:
                log.add(Problem(name, "*", "the table is empty"))
                continue
            frames[name] = (df, is_csv, n_rows)

        specs, tagged = [], []
        for i, (name, (df, is_csv, _)) in enumerate(frames.items()):
            data_cols = [c for c in df.columns if c != "_row"]
            prefixed = [f"t{i}_{j}" for j in range(len(data_cols))]
            specs.append(_TableSpec(name, tuple(zip(data_cols, prefixed, strict=True)), is_csv))
            renamed = df.toDF(*prefixed, "_row") if df.columns[-1] == "_row" else None
            if renamed is None:  # keep _row last so positional renaming is safe
                renamed = df.select(*data_cols, "_row").toDF(*prefixed, "_row")
            cid = F.regexp_replace(
                F.col(prefixed[data_cols.index("customer_id")]).cast("string"), r"(?U)^\s+|\s+$", ""
            )
            tagged.append(renamed.withColumn("_table", F.lit(name)).withColumn("_cid", cid))
        if not tagged:
            log.raise_if_any()
            raise ChurnmlError("no input to score")

        union = tagged[0]
        for other in tagged[1:]:
            union = union.unionByName(other, allowMissingColumns=True)
        estimate = 1
        if "customers" in frames:
            estimate = frames["customers"][2]
        elif "transactions" in frames:
            tx = frames["transactions"][0]
            row = tx.select(F.approx_count_distinct(F.col("customer_id")).alias("n")).first()
            estimate = int(row["n"]) if row is not None else 1
        n_buckets = min(max(math.ceil(estimate / chunk_customers), 1), _MAX_BUCKETS)

        plan = _Plan(cutoff.date().isoformat(), tuple(specs), strict_events, score=not log)
        task_cpus = int(session.conf.get("spark.task.cpus", "1") or 1)
        payload = session.sparkContext.broadcast(bundle_payload(bundle, task_cpus))

        def group_fn(pdf: pd.DataFrame) -> pd.DataFrame:
            return _score_group(pdf, payload, plan)

        result = (
            union.withColumn("_bucket", F.pmod(F.xxhash64("_cid"), F.lit(n_buckets)))
            .repartition(n_buckets, "_bucket")
            .groupBy("_bucket")
            .applyInPandas(group_fn, schema=_spark_schema())
            .persist()
        )
        tmp = _sibling(out, f".{_basename(out)}.partial-{uuid.uuid4().hex[:12]}")
        try:
            try:
                metas = [
                    json.loads(r[_META])
                    for r in result.filter(F.col(_META).isNotNull()).select(_META).collect()
                ]
            except Exception as err:
                reraise_interruption(err)
                raise ChurnmlError(f"the Spark scoring job failed: {_first_line(err)}") from err
            scored = unscored = 0
            for m in metas:
                if "problem" in m:
                    table, column, message, count, rows = m["problem"]
                    log.add(Problem(table, column, message, int(count), tuple(rows)))
                else:
                    scored += int(m["scored"])
                    unscored += int(m["unscored"])
            log.raise_if_any()
            try:
                scores = result.filter(F.col(_META).isNull()).select(*OUTPUT_COLUMNS)
                if budget:
                    scores = _with_budget(session, scores, budget)
                scores.write.parquet(tmp)
            except Exception as err:
                reraise_interruption(err)
                raise ChurnmlError(f"cannot write {out}: {_first_line(err)}") from err
            fs.delete(out)
            if not fs.rename(tmp, out):
                raise ChurnmlError(f"cannot move the scores into place at {out}")
        finally:
            fs.delete(tmp)
            result.unpersist()
            payload.destroy()

    return BatchSummary(
        output=out if _URI.match(out) else Path(out),
        engine="spark",
        as_of=cutoff.date().isoformat(),
        model_name=bundle.model_name,
        model_version=str(bundle.model_version),
        customers=scored,
        unscored=unscored,
        input_rows={name: n for name, (_, _, n) in frames.items()},
        buckets=n_buckets,
        seconds=time.perf_counter() - started,
    )


def _with_budget(session: SparkSession, scores: DataFrame, budget: Budget) -> DataFrame:
    """``scores`` with the campaign budget applied over all groups.

    The planned contacts (four values each) come to the driver, which ranks them
    with :func:`~churnml.actions.budget.funded_customers`, as the pandas engine does;
    the funded ids are broadcast and each partition rewrites its unfunded contacts.
    """
    from pyspark.sql import functions as F

    planned = scores.filter(F.col("intended_action") != NO_ACTION).select(
        "intended_action", *CANDIDATE_COLUMNS
    )
    funded = session.sparkContext.broadcast(
        funded_customers(candidates(planned.toPandas()), budget)
    )

    def apply(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in frames:
            yield apply_budget(frame, funded.value)

    return scores.mapInPandas(apply, schema=scores.schema)


def _basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _sibling(path: str, name: str) -> str:
    head = path.rstrip("/").rsplit("/", 1)[0]
    return f"{head}/{name}"
