"""The CDNOW data sets that ship inside the ``lifetimes`` wheel, in churnml's contract.

CDNOW is the standard benchmark of buy-till-you-die models (Fader, Hardie & Lee,
2005): customers who made their first purchase at the online music retailer in
the first quarter of 1997, followed until the end of June 1998.

The files are read by path through :mod:`importlib.resources` because
``import lifetimes.datasets`` needs ``pkg_resources``, which recent setuptools
no longer ships.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Literal

import pandas as pd

#: Last day of the paper's 39-week calibration period; holdout runs to 1998-06-30.
CDNOW_CALIBRATION_END = pd.Timestamp("1997-10-01")  # exclusive cut-off
CDNOW_END = pd.Timestamp("1998-07-01")  # exclusive end of the data


def _path(name: str) -> str:
    return str(files("lifetimes") / "datasets" / name)


def load_cdnow(kind: Literal["sample", "master"] = "sample") -> pd.DataFrame:
    """Return CDNOW transactions as ``customer_id, order_date, amount, quantity``.

    Parameters
    ----------
    kind
        ``"sample"``: the 2,357-customer sample used in the BG/NBD paper, with
        ``customer_id`` equal to the paper's 1-based customer index (the ``ID`` of
        lifetimes' ``cdnow_customers_summary.csv``). ``"master"``: all 23,570 customers.

    Returns
    -------
    pandas.DataFrame
        One row per line of the source file (several rows may share a day);
        ``channel`` is ``"online"`` for every row.
    """
    if kind == "sample":
        raw = pd.read_csv(
            _path("CDNOW_sample.txt"),
            sep=r"\s+",
            header=None,
            names=["master_id", "customer_id", "date", "quantity", "amount"],
            dtype={"master_id": str, "customer_id": str, "date": str},
        )
        raw["customer_id"] = raw["customer_id"].str.lstrip("0")
    elif kind == "master":
        raw = pd.read_csv(
            _path("CDNOW_master.txt"),
            sep=r"\s+",
            header=0,
            names=["customer_id", "date", "quantity", "amount"],
            dtype={"customer_id": str, "date": str},
        )
        raw["customer_id"] = raw["customer_id"].str.lstrip("0")
    else:
        raise ValueError(f"kind must be 'sample' or 'master', got {kind!r}")
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype(object),
            "order_date": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "amount": raw["amount"].astype("float64"),
            "quantity": raw["quantity"].astype("int64"),
            "channel": "online",
        }
    )


def load_cdnow_summary() -> pd.DataFrame:
    """The calibration-period summary of the sample that ships with lifetimes (weeks).

    Index ``customer_id`` (the sample's 1-based index as a string); columns
    ``frequency``, ``recency``, ``T``. Used as a reference in tests.
    """
    frame = pd.read_csv(_path("cdnow_customers_summary.csv"), dtype={"ID": str})
    return frame.rename(columns={"ID": "customer_id"}).set_index("customer_id")
