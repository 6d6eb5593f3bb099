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
from churnml.data.coerce import parse_dates
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


# ------------------------------------------------------------------------------ fast paths
# The validators pick a route by content (Arrow for strings, pandas for anything
# unusual, a Python loop for the few values and dates of a request; no groupby unless an order
# id repeats). These tests force each route on the same messy inputs and require
# the same output frames or the same problems, so that no route can drift.

_MESSY_TEXT = ["a", "B", " c1", "007 ", "\tX\n", "Zoë", "İd", "\xa0n\u3000", "", "  ", None]
_MESSY_DATES = [
    "2024-01-01",
    " 2024-03-31T23:30:00+05:00",
    "2024-03-31T01:00:00Z",
    "2024-02-02 10:00",
    "2024-02-29T23:59:59.123456",
    "2023-02-29",
    "2199-12-31T23:59",
    "2200-01-01",
    "19970101",
    "01/31/1997",
    "1800-01-01",
    "yesterday",
    "",
    None,
]


def _messy_tables(seed: int, n: int, clean: bool) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def pick(pool: list[object]) -> list[object]:
        return [pool[i] for i in rng.integers(0, len(pool), n)]

    ids = [f"c{i}" for i in range(max(1, n // 3))]
    text = ids if clean else [*ids, *_MESSY_TEXT]
    dates = _MESSY_DATES[:3] if clean else _MESSY_DATES
    orders = [f"o{i}" for i in range(max(1, n // 2))] + [None, " o1"]
    return {
        "transactions": pd.DataFrame(
            {
                "customer_id": pick(text),
                "order_date": pick(dates),
                "amount": pick([1.0, -2.5, -0.0, 0.1, 3]),
                "order_id": pick(orders),
                "channel": pick(["online", " Store", "APP", "", None]),
            }
        ),
        "customers": pd.DataFrame(
            {
                "customer_id": [f"c{i}" for i in range(n)] if clean else pick(text),
                "signup_date": pick(dates),
                "consent_email": pick(["yes", "No", " 1", "", None, *([] if clean else ["?"])]),
                "consent_sms": pick([True, False]),
            }
        ),
        "events": pd.DataFrame(
            {
                "customer_id": pick(text),
                "event_date": pick(dates),
                "event_type": pick(["email_open", " Site_Visit", "telepathy", "", None]),
            }
        ),
        "campaigns": pd.DataFrame(
            {
                "customer_id": pick(text),
                "campaign_id": pick(["w1", " w2"]),
                "sent_date": pick(dates),
                "action": pick(["sms_reminder", "Email "]),
                "treated": pick(["yes", "no", "1", None]),
                "converted": pick([True, False]),
                "revenue": pick([0.0, 1.5, np.nan]),
            }
        ),
    }


def _outcome(validate, frame: pd.DataFrame) -> object:  # type: ignore[no-untyped-def]
    try:
        return validate(frame)
    except DataValidationError as err:
        return err.problems


def _assert_same(a: object, b: object) -> None:
    if isinstance(a, pd.DataFrame):
        assert isinstance(b, pd.DataFrame)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        for c in a.columns:  # same missing-value markers (<NA>, NaN, None) and sign of zero
            left, right = a[c].to_numpy(), b[c].to_numpy()
            assert [type(v) for v in left] == [type(v) for v in right]
            if a[c].dtype.kind == "f":
                assert (np.signbit(left) == np.signbit(right)).all()
    else:
        assert a == b


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [1, 3, 40])
def test_small_route_matches_the_vectorised_route(
    seed: int, n: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from churnml.data import coerce

    tables = _messy_tables(seed, n, clean=seed % 2 == 0)
    validators = {
        "transactions": validate_transactions,
        "customers": validate_customers,
        "events": lambda f: validate_events(f, strict=True),
        "campaigns": validate_campaigns,
    }
    small = {t: _outcome(v, tables[t]) for t, v in validators.items()}
    monkeypatch.setattr(coerce, "_SMALL_ROWS", 0)
    for table, validate in validators.items():
        _assert_same(small[table], _outcome(validate, tables[table]))


@pytest.mark.parametrize("lower", [False, True])
def test_text_routes_match_the_arrow_string_reference(lower: bool) -> None:
    from churnml.data.coerce import _clean_text_arrow, _clean_text_pandas, _clean_text_small

    rng = np.random.default_rng(1)
    pool = [*_MESSY_TEXT, "a\u2003", "\x1cb\x1f", "\u200bz", "MiXeD", "ß", "ǅ"]
    raw = np.array([pool[i] for i in rng.integers(0, len(pool), 500)], dtype=object)
    reference = _clean_text_pandas(pd.Series(raw), lower)
    ascii_rows = np.array([v is None or v.isascii() for v in raw])
    for got in (_clean_text_arrow(raw, lower), _clean_text_small(raw[ascii_rows], lower)):
        assert got is not None
        rows = ascii_rows if len(got.values) < len(raw) else slice(None)
        assert got.values.tolist() == reference.values[rows].tolist()
        assert got.blank.tolist() == reference.blank[rows].tolist()
    assert _clean_text_small(raw, lower) is None  # non-ASCII text is left to Arrow


@pytest.mark.parametrize("n", [1, 2, 5, 40])
def test_repeat_check_routes_agree(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from churnml.data import coerce
    from churnml.data.contract import _all_distinct

    rng = np.random.default_rng(n)
    cases = [
        np.array([f"o{i}" for i in rng.permutation(n)], dtype=object),  # distinct, any order
        np.array([f"o{i}" for i in range(n)], dtype=object),  # distinct, increasing
        np.array([f"o{i}" for i in rng.integers(0, max(1, n // 2), n)], dtype=object),
    ]
    small = [_all_distinct(v) for v in cases]
    monkeypatch.setattr(coerce, "_SMALL_ROWS", 0)
    assert [_all_distinct(v) for v in cases] == small
    assert small[:2] == [True, True]
    assert small[2] == (n == 1)


def test_order_merge_without_repeats_matches_the_groupby(monkeypatch: pytest.MonkeyPatch) -> None:
    from churnml.data import contract

    frame = _messy_tables(3, 600, clean=True)["transactions"]
    frame["order_id"] = [f"o{i}" if i % 7 else None for i in range(len(frame))][::-1]
    fast = validate_transactions(frame)
    monkeypatch.setattr(contract, "_all_distinct", lambda values: False)
    _assert_same(fast, validate_transactions(frame))
    keyed = fast["order_id"].map(lambda v: isinstance(v, str)).to_numpy()
    amounts = fast["amount"].to_numpy()[keyed]
    assert not (np.signbit(amounts) & (amounts == 0)).any()  # a one-line sum is +0.0, not -0.0


def test_order_lines_are_summed_in_first_appearance_order() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["b", "a", "b", "a", "a"],
            "order_date": ["2024-01-05", "2024-01-02", "2024-01-01", "2024-01-03", "2024-01-04"],
            "amount": [1.0, 2.0, 4.0, 8.0, 16.0],
            "order_id": ["o1", "o1", "o1", None, "o2"],
            "channel": ["store", "app", "web", "web", "web"],
        }
    )
    out = validate_transactions(frame)
    assert out["customer_id"].tolist() == ["b", "a", "a", "a"]
    assert out["order_id"].tolist()[:3] == ["o1", "o1", "o2"]
    assert out["order_id"].isna().tolist() == [False, False, False, True]
    assert out["amount"].tolist() == [5.0, 2.0, 16.0, 8.0]
    assert out["channel"].tolist() == ["store", "app", "web", "web"]
    assert out["order_date"].iloc[0] == pd.Timestamp("2024-01-01")


def test_missing_order_ids_keep_their_historical_markers() -> None:
    """Rows without an order id keep the markers pd.concat used to give them.

    NaN when every such row's order id is missing, <NA> beside an empty one.
    """
    frame = _tx(order_id=["o1", None, None])
    assert [type(v) for v in validate_transactions(frame)["order_id"]] == [str, float, float]
    frame = _tx(order_id=["o1", None, " "])
    assert validate_transactions(frame)["order_id"].tolist()[1:] == [pd.NA, ""]
    assert validate_transactions(_tx(order_id=[None, "", None]))["order_id"].isna().all()
