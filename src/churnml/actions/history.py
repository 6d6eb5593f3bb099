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
from typing import NamedTuple

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


class SentContacts(NamedTuple):
    """Contacts actually sent before a cut-off, as parallel arrays (one entry per contact)."""

    customer_id: np.ndarray
    """Customer ids as strings."""
    channel: np.ndarray
    """Channel of each contact (object array)."""
    days_ago: np.ndarray
    """Whole days between the send date and the cut-off's date (int64)."""


def sent_contacts(
    campaigns: pd.DataFrame, as_of: dt.date | pd.Timestamp | str, catalogue: ActionCatalogue
) -> SentContacts:
    """Contacts actually sent before ``as_of``, as arrays: what :func:`past_contacts` tabulates.

    The policy reads these arrays directly: for the one customer of an HTTP
    request, building and grouping DataFrames would cost far more than the
    arithmetic itself.
    """
    require_columns(campaigns, ["customer_id", "sent_date", "action", "treated"], "campaigns")
    cutoff = pd.Timestamp(as_of)
    sent = campaigns["sent_date"]
    if not pd.api.types.is_datetime64_any_dtype(sent):  # to_datetime scans even dates
        sent = pd.to_datetime(sent)
    treated = campaigns["treated"]
    keep = (
        treated.to_numpy()
        if isinstance(treated.dtype, np.dtype) and treated.dtype.kind == "b"
        else treated.astype(bool).to_numpy()
    )
    if isinstance(sent.dtype, np.dtype) and cutoff.tzinfo is None:
        # Naive datetimes, as the data contract stores them: plain NumPy day arithmetic.
        when = sent.to_numpy()
        keep = keep & (when < cutoff.to_datetime64())
        days = (
            cutoff.normalize().to_datetime64().astype("datetime64[D]")
            - when[keep].astype("datetime64[D]")
        ).astype(np.int64)
    else:  # time zones: pandas' own comparison and calendar days
        keep = keep & (sent < cutoff).to_numpy()
        days = (cutoff.normalize() - sent[keep].dt.normalize()).dt.days.to_numpy(dtype=np.int64)

    channel_of = catalogue.channel_of()
    actions = campaigns["action"].to_numpy(dtype=object)[keep]
    channel = np.empty(len(actions), dtype=object)
    channel[:] = [channel_of.get(a) for a in actions]
    if "channel" in campaigns.columns:
        given = campaigns["channel"].to_numpy(dtype=object)[keep]
        stated = ~pd.isna(given)
        channel[stated] = given[stated]
    unknown = pd.isna(channel)
    if unknown.any():
        names = ", ".join(sorted(map(str, pd.unique(actions[unknown])))[:5])
        logger.warning(
            "%d past contacts with unknown channel ignored (actions: %s)", unknown.sum(), names
        )
    known = ~unknown
    ids = _strings(campaigns["customer_id"])[keep]
    return SentContacts(customer_id=ids[known], channel=channel[known], days_ago=days[known])


def _strings(values: pd.Series) -> np.ndarray:
    """``values.astype(str).to_numpy()``, skipping the copy when every value already is a string."""
    array = values.to_numpy()
    return array if _all_strings(array) else values.astype(str).to_numpy()


def _all_strings(array: np.ndarray) -> bool:
    """Whether every value is a ``str`` (then ``astype(str)`` and ``fillna`` leave it as it is)."""
    return array.dtype == object and pd.api.types.infer_dtype(array, skipna=False) == "string"


def past_contacts(
    campaigns: pd.DataFrame, as_of: dt.date | pd.Timestamp | str, catalogue: ActionCatalogue
) -> pd.DataFrame:
    """Contacts actually sent before ``as_of``: customer_id, channel, days_ago.

    ``days_ago`` is the whole number of days between the send date and ``as_of``
    (a contact the day before the cut-off is 1 day ago).
    """
    contacts = sent_contacts(campaigns, as_of, catalogue)
    return pd.DataFrame(
        {
            "customer_id": contacts.customer_id,
            "channel": contacts.channel,
            "days_ago": contacts.days_ago,
        }
    )


def guard_arrays(
    contacts: SentContacts, customers: pd.Index, catalogue: ActionCatalogue
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per contact action: days since the last contact and contacts in its cap window.

    For each action of ``catalogue``, two arrays over ``customers``: the fewest days
    since a contact on the action's channel (inf if never) and the number of those
    contacts within ``cap_window_days`` (a contact ``d`` days ago is inside a window of
    ``w`` days when ``d <= w``). Actions nobody in ``customers`` was contacted for are
    left out. The policy's cool-downs and caps, and :func:`contact_summary`, read these.
    """
    n = len(customers)
    pos = customers.get_indexer(contacts.customer_id)
    known = pos >= 0
    pos, channel, days_ago = pos[known], contacts.channel[known], contacts.days_ago[known]
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if not len(pos):
        return out
    for a in catalogue.contact_actions:
        mine = channel == a.channel
        if not mine.any():
            continue
        days = np.full(n, np.inf)
        np.minimum.at(days, pos[mine], days_ago[mine])
        in_window = days_ago[mine] <= a.cap_window_days
        count = np.bincount(pos[mine], weights=in_window, minlength=n)
        out[a.id] = (days, count)
    return out


def contact_summary(
    campaigns: pd.DataFrame, as_of: dt.date | pd.Timestamp | str, catalogue: ActionCatalogue
) -> pd.DataFrame:
    """Per customer and contact action: days since last contact and contacts in the cap window.

    :func:`guard_arrays` as a table, for people and reports. Both figures are counted
    over every earlier contact on the action's channel (so ``email_reminder`` and
    ``email_discount`` share one e-mail history). Customers never contacted on a
    channel have no row for its actions.

    Returns
    -------
    pandas.DataFrame
        Columns ``SUMMARY_COLUMNS``; both figures are integers.
    """
    contacts = sent_contacts(campaigns, as_of, catalogue)
    customers = pd.Index(pd.unique(contacts.customer_id))
    frames = [
        pd.DataFrame(
            {
                "customer_id": customers[seen].to_numpy(dtype=object),
                "action": action_id,
                "days_since_last_contact": days[seen].astype(np.int64),
                "contacts_in_window": count[seen].astype(np.int64),
            }
        )
        for action_id, (days, count) in guard_arrays(contacts, customers, catalogue).items()
        for seen in [np.isfinite(days)]
    ]
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
