"""Each rule of the data contract rejects a crafted bad table and names the field."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.data import (
    load_tables,
    read_table,
    validate_campaigns,
    validate_customers,
    validate_events,
    validate_tables,
    validate_transactions,
)
from churnml.data.contract import parse_dates
from churnml.errors import DataValidationError


def _tx(**overrides: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "customer_id": ["a", "a", "b"],
        "order_date": ["2024-01-01", "2024-02-01", "2024-03-01"],
        "amount": [10.0, 20.0, 5.0],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def _problem(err: pytest.ExceptionInfo[DataValidationError], field: str) -> str:
    fields = {p.column: p for p in err.value.problems}
    assert field in fields, f"expected a problem about {field!r}, got {list(fields)}"
    return str(fields[field])


def test_valid_transactions_are_coerced() -> None:
    out = validate_transactions(_tx(amount=["10", "-2.5", "0"]))
    assert out["amount"].tolist() == [10.0, -2.5, 0.0]
    assert pd.api.types.is_datetime64_dtype(out["order_date"])
    assert set(out["channel"]) == {"unknown"}


@pytest.mark.parametrize(
    ("column", "values", "words"),
    [
        ("order_date", ["2024-01-01", "yesterday", "2024-13-01"], "unparseable"),
        ("order_date", ["2024-01-01", None, "2024-01-03"], "missing date"),
        ("amount", [1.0, np.nan, 3.0], "NaN"),
        ("amount", [1.0, np.inf, 3.0], "infinite"),
        ("amount", [1.0, "ten", 3.0], "not a number"),
        ("customer_id", ["a", None, " "], "missing or empty id"),
    ],
)
def test_bad_transaction_values_are_rejected_with_field_and_rows(
    column: str, values: list[object], words: str
) -> None:
    with pytest.raises(DataValidationError) as err:
        validate_transactions(_tx(**{column: values}))
    text = _problem(err, column)
    assert words in text
    assert "row" in text


def test_missing_required_columns_are_all_listed() -> None:
    with pytest.raises(DataValidationError) as err:
        validate_transactions(pd.DataFrame({"customer_id": ["a"]}))
    assert {p.column for p in err.value.problems} >= {"order_date", "amount"}


def test_empty_input_is_rejected() -> None:
    with pytest.raises(DataValidationError, match="empty"):
        validate_transactions(_tx().iloc[:0])


def test_every_problem_is_reported_at_once() -> None:
    bad = _tx(order_date=["2024-01-01", "nope", "2024-01-03"], amount=[1.0, 2.0, np.nan])
    with pytest.raises(DataValidationError) as err:
        validate_transactions(bad)
    assert {p.column for p in err.value.problems} == {"order_date", "amount"}
    example_rows = {p.column: p.rows for p in err.value.problems}
    assert example_rows == {"order_date": (2,), "amount": (3,)}


def test_dates_with_offsets_keep_local_wall_clock_day() -> None:
    parsed = parse_dates(
        pd.Series(["2024-03-31T23:30:00+05:00", "2024-03-31", "20240331", "2024-03-31T01:00:00Z"])
    )
    assert parsed.dt.date.astype(str).tolist() == ["2024-03-31"] * 4
    assert parsed.iloc[0].hour == 23


def test_tz_aware_timestamps_become_naive() -> None:
    s = pd.Series(pd.to_datetime(["2024-01-01T10:00:00"]).tz_localize("Europe/Berlin"))
    assert parse_dates(s).iloc[0] == pd.Timestamp("2024-01-01T10:00:00")


def test_rows_of_one_order_are_merged() -> None:
    frame = _tx(
        customer_id=["a", "a", "a"],
        amount=[10.0, 5.0, 1.0],
        order_date=["2024-01-01T10:00", "2024-01-01T09:00", "2024-01-02"],
    )
    frame["order_id"] = ["o1", "o1", None]
    out = validate_transactions(frame)
    assert len(out) == 2
    merged = out.loc[out["order_id"] == "o1"].iloc[0]
    assert merged["amount"] == 15.0
    assert merged["order_date"] == pd.Timestamp("2024-01-01T09:00")


def test_negative_amounts_are_returns_not_errors() -> None:
    assert validate_transactions(_tx(amount=[10.0, -10.0, 5.0]))["amount"].min() == -10.0


def test_duplicate_customers_are_rejected() -> None:
    with pytest.raises(DataValidationError) as err:
        validate_customers(pd.DataFrame({"customer_id": ["a", "b", "a"]}))
    assert "duplicate" in _problem(err, "customer_id")


def test_consent_flags_default_to_false_and_reject_garbage() -> None:
    out = validate_customers(
        pd.DataFrame({"customer_id": ["a", "b", "c"], "consent_email": ["yes", None, "0"]})
    )
    assert out["consent_email"].tolist() == [True, False, False]
    assert not out["consent_sms"].any()
    with pytest.raises(DataValidationError) as err:
        validate_customers(pd.DataFrame({"customer_id": ["a"], "consent_sms": ["maybe"]}))
    assert "boolean" in _problem(err, "consent_sms")


def test_unknown_event_types_only_rejected_in_strict_mode() -> None:
    ev = pd.DataFrame(
        {"customer_id": ["a"], "event_date": ["2024-01-01"], "event_type": ["telepathy"]}
    )
    assert len(validate_events(ev)) == 1
    with pytest.raises(DataValidationError) as err:
        validate_events(ev, strict=True)
    assert "unknown event type" in _problem(err, "event_type")


def test_campaigns_need_boolean_flags() -> None:
    camp = pd.DataFrame(
        {
            "customer_id": ["a"],
            "campaign_id": ["c1"],
            "sent_date": ["2024-01-01"],
            "action": ["email_reminder"],
            "treated": ["sometimes"],
            "converted": [True],
        }
    )
    with pytest.raises(DataValidationError) as err:
        validate_campaigns(camp)
    assert "boolean" in _problem(err, "treated")


def test_problems_of_all_tables_come_together() -> None:
    with pytest.raises(DataValidationError) as err:
        validate_tables(
            _tx(amount=[1.0, np.nan, 2.0]), customers=pd.DataFrame({"customer_id": ["a", "a"]})
        )
    assert {p.table for p in err.value.problems} == {"transactions", "customers"}


def test_readers_turn_broken_files_into_validation_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "tx.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataValidationError, match="cannot read"):
        read_table(broken, "transactions")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataValidationError, match="empty"):
        read_table(empty, "transactions")
    with pytest.raises(DataValidationError, match="unsupported"):
        read_table(
            tmp_path / "tx.xlsx" if (tmp_path / "tx.xlsx").write_text("x") else "", "transactions"
        )
    with pytest.raises(DataValidationError, match="not found"):
        load_tables(tmp_path / "missing.csv")


def test_csv_and_parquet_give_the_same_tables(tmp_path) -> None:  # type: ignore[no-untyped-def]
    frame = _tx(customer_id=["007", "007", "010"])
    frame.to_csv(tmp_path / "tx.csv", index=False)
    frame.to_parquet(tmp_path / "tx.parquet", index=False)
    a = load_tables(tmp_path / "tx.csv").transactions
    b = load_tables(tmp_path / "tx.parquet").transactions
    pd.testing.assert_frame_equal(a, b)
    assert a["customer_id"].tolist()[0] == "007"  # leading zeros survive
