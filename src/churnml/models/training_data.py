"""Training rows from rolling cut-offs, each computed strictly before its cut-off.

At every cut-off ``c`` (see :func:`churnml.features.rolling_cutoffs`):

1. an :class:`~churnml.models.ltv.LTVModel` is fitted on the RFM summary of the
   purchases *before* ``c``;
2. the inputs are :func:`churnml.models.inputs.model_inputs` at ``c`` with that LTV
   model - the same function the scorer calls;
3. the label is :func:`churnml.features.churn_labels`: no purchase in
   ``[c, c + churn_window_days)``.

The latest cut-off is ``as_of - churn_window_days``, so every label window is fully
observed before ``as_of``; rows are stacked oldest cut-off first and keep their
cut-off so that :meth:`ChurnModel.fit <churnml.models.churn.ChurnModel.fit>` can hold
out the latest ones by time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnml.config import LTVConfig, TimeConfig
from churnml.data.contract import InputTables
from churnml.errors import ChurnmlError
from churnml.features import churn_labels, rfm_summary
from churnml.models.inputs import CHURN_FEATURES, model_inputs
from churnml.models.ltv import LTVFitError, LTVModel
from churnml.models.sufficiency import configured_cutoffs

logger = logging.getLogger(__name__)


@dataclass
class CutoffRows:
    """Inputs, labels and the LTV model of one cut-off."""

    cutoff: pd.Timestamp
    inputs: pd.DataFrame  # model_inputs at the cut-off, indexed by customer_id
    labels: pd.Series  # churned (1.0) or not, same index
    ltv: LTVModel


@dataclass
class TrainingSet:
    """Stacked training rows of several cut-offs.

    Attributes
    ----------
    X
        Model features (``CHURN_FEATURES``), one row per (cut-off, customer), indexed
        by ``customer_id`` (repeated across cut-offs; ``ChurnModel.fit`` uses it to
        hold out customers).
    y
        Churn label per row (0/1 floats), positionally aligned with ``X``.
    cutoff
        The cut-off of each row (positionally aligned).
    customer_id
        The customer of each row (positionally aligned).
    ltv_models
        The LTV model fitted before each cut-off, by cut-off.
    churn_window_days, horizon_days
        The windows the rows were built with (a model trained on them must be
        scored with the same ones).
    skipped_cutoffs
        Cut-offs left out, with the reason (no customers yet, or an LTV model that
        could not be fitted on the little history before an early cut-off).
    """

    X: pd.DataFrame
    y: pd.Series
    cutoff: pd.Series
    customer_id: pd.Series
    ltv_models: dict[pd.Timestamp, LTVModel] = field(default_factory=dict)
    churn_window_days: int = 90
    horizon_days: int = 365
    skipped_cutoffs: dict[pd.Timestamp, str] = field(default_factory=dict)

    @property
    def cutoffs(self) -> list[pd.Timestamp]:
        """The cut-offs, oldest first."""
        return sorted(self.ltv_models)

    def summary(self) -> pd.DataFrame:
        """Rows and churn rate per cut-off."""
        frame = pd.DataFrame({"cutoff": self.cutoff.to_numpy(), "churned": self.y.to_numpy()})
        return frame.groupby("cutoff")["churned"].agg(rows="size", churn_rate="mean")


def cutoff_rows(
    tables: InputTables,
    cutoff: pd.Timestamp | str,
    ltv_cfg: LTVConfig,
    horizon_days: int,
    churn_window_days: int,
) -> CutoffRows:
    """Inputs and labels of one cut-off, the LTV model fitted on purchases before it.

    Inputs use nothing dated on or after ``cutoff``; labels use only purchases in
    ``[cutoff, cutoff + churn_window_days)``.
    """
    cut = pd.Timestamp(cutoff).normalize()
    ltv = LTVModel.from_config(ltv_cfg)
    ltv.fit(rfm_summary(tables.transactions, cut, time_unit=ltv.time_unit))
    inputs = model_inputs(tables, cut, ltv, horizon_days, churn_window_days)
    labels = churn_labels(tables.transactions, cut, churn_window_days).reindex(inputs.index)
    return CutoffRows(cutoff=cut, inputs=inputs, labels=labels, ltv=ltv)


def training_cutoffs(
    tables: InputTables, as_of: pd.Timestamp | str, time_cfg: TimeConfig
) -> list[pd.Timestamp]:
    """The rolling cut-offs of ``time_cfg`` before ``as_of`` (oldest first)."""
    return configured_cutoffs(
        tables.transactions["order_date"].min(), pd.Timestamp(as_of), time_cfg
    )


def build_training_set(
    tables: InputTables,
    as_of: pd.Timestamp | str,
    time_cfg: TimeConfig,
    ltv_cfg: LTVConfig,
    cutoffs: Sequence[pd.Timestamp | str] | None = None,
) -> TrainingSet:
    """Training rows of the rolling cut-offs before ``as_of``.

    Parameters
    ----------
    tables
        Validated input tables.
    as_of
        Exclusive end of what is known (the scoring date the model is trained for).
        Every label window ends on or before it.
    time_cfg
        ``churn_window_days``, ``horizon_days`` and the cut-off schedule
        (``n_cutoffs``, ``cutoff_step_days``, ``min_history_days``).
    ltv_cfg
        Settings of the LTV model fitted at every cut-off.
    cutoffs
        Explicit cut-offs instead of the schedule (each label window must still end
        by ``as_of``).

    Returns
    -------
    TrainingSet

    Raises
    ------
    ChurnmlError
        When the history is too short for a single labelled cut-off.
    """
    end = pd.Timestamp(as_of).normalize()
    window = time_cfg.churn_window_days
    if cutoffs is None:
        cuts = training_cutoffs(tables, end, time_cfg)
    else:
        cuts = sorted({pd.Timestamp(c).normalize() for c in cutoffs})
        late = [c for c in cuts if c + pd.Timedelta(days=window) > end]
        if late:
            raise ChurnmlError(
                f"cut-off {late[0].date()} + {window} days of label window ends after "
                f"as_of {end.date()}: its labels would not be observed"
            )
    if not cuts:
        raise ChurnmlError(
            f"not enough history for a training cut-off: need {time_cfg.min_history_days} days of "
            f"history plus a {window}-day label window before {end.date()}"
        )
    parts: list[CutoffRows] = []
    skipped: dict[pd.Timestamp, str] = {}
    for cut in cuts:
        try:
            part = cutoff_rows(tables, cut, ltv_cfg, time_cfg.horizon_days, window)
        except LTVFitError as err:
            skipped[cut] = f"LTV fit failed: {err}"
            logger.warning("skipping training cut-off %s: %s", cut.date(), err)
            continue
        if len(part.inputs) == 0:
            skipped[cut] = "no customer with a purchase before it"
            continue
        parts.append(part)
    if not parts:
        raise ChurnmlError(f"no usable training cut-off: {skipped}")
    X = pd.concat([p.inputs[CHURN_FEATURES] for p in parts])
    return TrainingSet(
        X=X,
        y=pd.Series(np.concatenate([p.labels.to_numpy() for p in parts]), name="churned"),
        cutoff=pd.Series(
            np.concatenate([np.full(len(p.inputs), p.cutoff.to_datetime64()) for p in parts]),
            name="cutoff",
        ),
        customer_id=pd.Series(
            np.concatenate([p.inputs.index.to_numpy(dtype=object) for p in parts]),
            name="customer_id",
        ),
        ltv_models={p.cutoff: p.ltv for p in parts},
        churn_window_days=window,
        horizon_days=time_cfg.horizon_days,
        skipped_cutoffs=skipped,
    )
