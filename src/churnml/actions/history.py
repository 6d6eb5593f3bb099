"""Contact history as the policy's guardrails need it.

From a validated campaigns table (see :func:`churnml.data.validate_campaigns`)
and a cut-off ``as_of``, :func:`contact_summary` gives, per customer and
catalogue action, the days since the last contact on the action's channel and
the number of such contacts inside the action's cap window. Only contacts sent
strictly before ``as_of`` count, and only those actually sent (``treated``):
a held-out control customer received nothing, so the control flag never uses up
a cool-down or a cap.

The channel of a past contact is the ``channel`` column of the campaigns table
when present, otherwise the channel of its action in the catalogue. Contacts
whose channel cannot be told are logged and ignored, because they cannot be
attributed to any channel's cool-down.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd

from churnml.actions.catalogue import ActionCatalogue
from churnml.segments import require_columns

logger = logging.getLogger(__name__)

#: Columns of :func:`contact_summary` output.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "action",
    "days_since_last_contact",
    "contacts_in_window",
)


def past_contacts(
    campaigns: pd.DataFrame, as_of: dt.date | pd.Timestamp | str, catalogue: ActionCatalogue
) -> pd.DataFrame:
    """Contacts actually sent before ``as_of``: customer_id, channel, days_ago.

    ``days_ago`` is the whole number of days between the send date and ``as_of``
    (a contact the day before the cut-off is 1 day ago).
    """
    require_columns(campaigns, ["customer_id", "sent_date", "action", "treated"], "campaigns")
    cutoff = pd.Timestamp(as_of)
    sent = pd.to_datetime(campaigns["sent_date"])
    keep = campaigns["treated"].astype(bool).to_numpy() & (sent < cutoff).to_numpy()
    rows = campaigns.loc[keep]
    channel_of = catalogue.channel_of()
    by_action = rows["action"].map(channel_of)
    if "channel" in rows.columns:
        channel = rows["channel"].astype(object).where(rows["channel"].notna(), by_action)
    else:
        channel = by_action
    unknown = channel.isna().to_numpy()
    if unknown.any():
        actions = ", ".join(sorted(map(str, rows.loc[unknown, "action"].unique()))[:5])
        logger.warning(
            "%d past contacts with unknown channel ignored (actions: %s)", unknown.sum(), actions
        )
    days = (cutoff.normalize() - sent[keep].dt.normalize()).dt.days
    out = pd.DataFrame(
        {
            "customer_id": rows["customer_id"].astype(str).to_numpy(),
            "channel": channel.to_numpy(),
            "days_ago": days.to_numpy(dtype=np.int64),
        }
    )
    return out.loc[~unknown].reset_index(drop=True)


def contact_summary(
    campaigns: pd.DataFrame, as_of: dt.date | pd.Timestamp | str, catalogue: ActionCatalogue
) -> pd.DataFrame:
    """Per customer and contact action: days since last contact and contacts in the cap window.

    Both figures are counted over every earlier contact on the action's channel
    (so ``email_reminder`` and ``email_discount`` share one e-mail history). A
    contact ``d`` days before ``as_of`` is inside a window of ``w`` days when
    ``d <= w``. Customers never contacted on a channel have no row for its actions.

    Returns
    -------
    pandas.DataFrame
        Columns ``SUMMARY_COLUMNS``; ``days_since_last_contact`` is an integer.
    """
    contacts = past_contacts(campaigns, as_of, catalogue)
    frames = []
    for action in catalogue.contact_actions:
        mine = contacts.loc[contacts["channel"] == action.channel]
        if mine.empty:
            continue
        in_window = (mine["days_ago"] <= action.cap_window_days).astype(np.int64)
        grouped = mine.assign(in_window=in_window).groupby("customer_id", sort=False)
        summary = pd.DataFrame(
            {
                "days_since_last_contact": grouped["days_ago"].min(),
                "contacts_in_window": grouped["in_window"].sum(),
            }
        ).reset_index()
        summary.insert(1, "action", action.id)
        frames.append(summary)
    if not frames:
        return pd.DataFrame(
            {
                "customer_id": pd.Series(dtype=object),
                "action": pd.Series(dtype=object),
                "days_since_last_contact": pd.Series(dtype=np.int64),
                "contacts_in_window": pd.Series(dtype=np.int64),
            }
        )
    return pd.concat(frames, ignore_index=True)[list(SUMMARY_COLUMNS)]
