"""A model bundle made ready to score in a worker process, with the threads it may use.

Three kinds of process score with a bundle they load themselves: the pandas engine's
pool workers, Spark's Python workers and the HTTP service's workers. Each knows how
many cores it may use (a share of the machine, one Spark task slot, one server worker)
and gives every LightGBM booster that many threads, both through ``n_jobs`` and
through the OpenMP limit (boosters that take no ``n_jobs`` per call follow the
latter); more would make the processes compete for the same cores. The predictions
do not depend on the number of threads.

Pool and Spark workers are reused across tasks, so they keep their scorers in a small
cache private to the process, keyed by what identifies the bundle; the service loads
its model once, when a worker starts.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from churnml.scoring.bundle import ModelBundle
from churnml.scoring.scorer import Scorer

#: Scorers a long-lived worker keeps (it may see several models, one after another).
CACHED_SCORERS = 4
_scorers: OrderedDict[tuple[str, int], Scorer] = OrderedDict()


def prepared_scorer(bundle: ModelBundle, threads: int) -> Scorer:
    """A scorer of ``bundle`` whose boosters use ``threads`` threads in this process."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)  # OpenMP of every booster (uplift models included)
    return Scorer(bundle.set_threads(threads))


def worker_scorer(key: str, load: Callable[[], ModelBundle], threads: int) -> Scorer:
    """The scorer of the bundle ``key`` in this worker process, loaded by ``load`` once.

    ``key`` must change whenever the bundle does (a saved folder and model version,
    or a digest of the bundle's files).
    """
    entry = (key, threads)
    scorer = _scorers.get(entry)
    if scorer is None:
        scorer = prepared_scorer(load(), threads)
        if len(_scorers) >= CACHED_SCORERS:
            _scorers.popitem(last=False)
        _scorers[entry] = scorer
    return scorer
