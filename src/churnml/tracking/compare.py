"""Champion versus challenger, side by side (used by the retrain notebook and the CLI)."""

from __future__ import annotations

import pandas as pd
from mlflow.tracking import MlflowClient

from churnml.tracking.registry import CHALLENGER, CHAMPION, get_alias_version


def compare_aliases(
    client: MlflowClient, name: str, metrics: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """Metrics of the runs behind ``champion`` and ``challenger`` (one column each).

    Rows are metric names (all common metrics, or the given ones); a missing alias
    gives no column.
    """
    columns: dict[str, pd.Series] = {}
    for alias in (CHAMPION, CHALLENGER):
        mv = get_alias_version(client, name, alias)
        if mv is None or mv.run_id is None:
            continue
        run = client.get_run(mv.run_id)
        columns[f"{alias} (v{mv.version})"] = pd.Series(run.data.metrics)
    table = pd.DataFrame(columns)
    if metrics is not None:
        table = table.reindex(list(metrics))
    return table.sort_index()
