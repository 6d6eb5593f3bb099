"""A batch job killed by a scheduler leaves nothing behind: no processes, no spill, no output.

``churnml score`` with 2 pandas workers runs as a real process in its own session; it is
killed mid-run (once its worker pool is up) with SIGTERM, which it handles like Ctrl-C,
and with SIGKILL, which it cannot handle: then its workers notice that their parent is
gone and exit by themselves, and the next run removes the stale spill folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from churnml.datasets import simulate

CHURNML = str(Path(sys.executable).with_name("churnml"))
AS_OF = "2025-01-01"


@pytest.fixture(scope="module")
def job(trained_model: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Inputs large enough for a run of several seconds, and the command that scores them."""
    folder = tmp_path_factory.mktemp("signals")
    paths = simulate(6000, seed=21).write(folder / "data")
    work = folder / "work"
    work.mkdir()
    out = folder / "scores.parquet"
    args = [CHURNML, "score", "--as-of", AS_OF, "--output", str(out), "--workers", "2",
            "--model-uri", f"models:/{trained_model.model_name}/{trained_model.version}",
            "--chunk-customers", "1000"]  # fmt: skip
    for name in ("transactions", "customers", "events", "campaigns"):
        args += [f"--{name}", str(paths[name])]
    env = {**os.environ, "MLFLOW_TRACKING_URI": trained_model.tracking_uri, "TMPDIR": str(work)}
    return {"args": args, "env": env, "work": work, "out": out}


def _spills(work: Path) -> list[Path]:
    return sorted(work.glob("churnml-spill-*"))


def _session(sid: int) -> list[psutil.Process]:
    """Every live process of session ``sid`` (the job, its workers, loky's helpers)."""
    alive = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except (ProcessLookupError, psutil.Error):
            continue
    return alive


def _start_and_wait_for_workers(job: dict[str, Any]) -> subprocess.Popen[bytes]:
    """Start the job; return once its worker pool runs and its spill folder exists."""
    # Files, not pipes: orphaned workers would hold a pipe open after the parent is gone.
    with (job["work"].parent / "stderr.log").open("wb") as log:
        proc = subprocess.Popen(
            job["args"],
            env=job["env"],
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, _stderr(job)
        children = psutil.Process(proc.pid).children(recursive=True)
        if len(children) >= 2 and _spills(job["work"]):
            return proc
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the job never started its workers")


def _stderr(job: dict[str, Any]) -> str:
    return (job["work"].parent / "stderr.log").read_text(errors="replace")


def _wait_until_gone(sid: int, seconds: float = 10.0) -> list[psutil.Process]:
    deadline = time.monotonic() + seconds
    while (left := _session(sid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_sigterm_stops_the_workers_and_removes_the_spill(job: dict[str, Any]) -> None:
    proc = _start_and_wait_for_workers(job)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    stderr = _stderr(job)
    assert proc.returncode == 143, stderr[-2000:]
    assert "Terminated (SIGTERM); nothing was written" in stderr
    assert "Traceback" not in stderr
    assert _wait_until_gone(proc.pid) == []  # no worker, no resource tracker
    assert _spills(job["work"]) == []
    assert not job["out"].exists() and not list(job["out"].parent.glob("*.partial"))


@pytest.mark.parametrize("kills", [2, pytest.param(5, marks=pytest.mark.slow)])
def test_sigkill_leaves_no_process_and_the_spills_do_not_grow(
    job: dict[str, Any], kills: int
) -> None:
    """Within 10 s of each kill nothing of the job runs; each run removes the last one's spill."""
    job["out"].unlink(missing_ok=True)  # an earlier test's run wrote it
    for _ in range(kills):
        proc = _start_and_wait_for_workers(job)
        assert len(_spills(job["work"])) == 1  # the stale one of the last run is gone
        proc.kill()  # the parent alone, as the kernel's OOM killer would
        proc.wait(timeout=30)
        left = _wait_until_gone(proc.pid)
        assert left == [], [p.cmdline()[:3] for p in left]
        assert not job["out"].exists()
    done = subprocess.run(job["args"], env=job["env"], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert job["out"].exists()
    assert _spills(job["work"]) == []  # the killed runs' folders were cleaned up


@pytest.mark.spark
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_spark_job_leaves_no_process_and_no_output(
    job: dict[str, Any], sig: signal.Signals
) -> None:
    pytest.importorskip("pyspark")
    job["out"].unlink(missing_ok=True)  # the pandas test's last run wrote it
    args = [a for a in job["args"] if a not in ("--workers", "2")]
    spark = {**job, "args": [*args, "--engine", "spark", "--spark-master", "local[2]"]}
    with (job["work"].parent / "stderr.log").open("wb") as log:
        proc = subprocess.Popen(
            spark["args"], env=job["env"], stdout=subprocess.DEVNULL, stderr=log,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # until Spark runs Python tasks
        assert proc.poll() is None, _stderr(job)
        names = []
        for child in psutil.Process(proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a child may exit while we look
                names.append(" ".join(child.cmdline()))
        if any("pyspark" in n and "daemon" in n for n in names) or any(
            "worker" in n for n in names
        ):
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("Spark never started its Python workers:\n" + _stderr(job)[-2000:])
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert proc.returncode == (143 if sig == signal.SIGTERM else -9), _stderr(job)[-2000:]
    if sig == signal.SIGTERM:
        assert "Terminated (SIGTERM); nothing was written" in _stderr(job)
        assert "Traceback" not in _stderr(job)
    left = _wait_until_gone(proc.pid, seconds=20)
    assert left == [], [p.cmdline()[:3] for p in left]
    assert not job["out"].exists()
