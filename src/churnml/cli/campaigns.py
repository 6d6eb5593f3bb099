"""Commands about campaigns: evaluate-policy (offline, past campaigns) and lift (a finished one)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from churnml.cli._app import DateOpt, PathOpt, _config, _friendly, _table, app, out
from churnml.errors import ChurnmlError


@app.command("evaluate-policy")
@_friendly
def evaluate_policy(
    transactions: Annotated[Path, typer.Option(help="Transactions (CSV or Parquet).")],
    campaigns: Annotated[Path, typer.Option(help="Past randomised campaigns (CSV or Parquet).")],
    customers: PathOpt = None,
    events: PathOpt = None,
    as_of: DateOpt = None,
    contacts: Annotated[
        int | None,
        typer.Option(min=1, help="Campaign size per send date (default: every positive contact)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML configuration (see training/configs/default.yaml).")
    ] = None,
) -> None:
    """Estimate offline what the policy would have caused in past randomised campaigns.

    The uplift model is trained on 70% of the campaign customers; on the other 30%
    (described as on the send date) inverse-propensity and doubly robust estimates
    with 95% intervals of the incremental conversions and revenue of the policy,
    "contact everyone", "top churn risk" and "random" at the same number of contacts.
    """
    from churnml.actions.fitting import fit_uplift
    from churnml.data import load_tables
    from churnml.evaluation.policy import evaluate_policy_offline
    from churnml.pipeline import resolve_as_of

    cfg = _config(config, time={"as_of": as_of.date() if as_of else None})
    tables = load_tables(transactions, customers, events, campaigns)
    cutoff = resolve_as_of(cfg, tables)
    fit = fit_uplift(tables, cfg, cutoff)
    if fit.conversion.source_ != "learned":
        raise ChurnmlError(
            "no uplift could be learned from these campaigns: "
            + str(fit.info.get("uplift.fallback_reason", "no observed treated and control rows"))
        )
    report = evaluate_policy_offline(
        tables, cfg, cutoff, fit.conversion, n_contacts=contacts, revenue_model=fit.revenue
    ).report
    rows = [
        {
            **{k: r[k] for k in ("rule", "outcome", "estimator")},
            "contacts": f"{r['contacts']:,}",
            "estimate": f"{r['estimate']:,.1f}",
            "95% interval": f"[{r['low']:,.1f}, {r['high']:,.1f}]",
        }
        for r in report.to_dict("records")
    ]
    out.print(
        _table(rows, title=f"Offline policy evaluation (held-out customers, as of {cutoff.date()})")
    )


@app.command()
@_friendly
def lift(
    contacts: Annotated[
        Path, typer.Option(help="Campaign contacts: `churnml score` output or a campaigns table.")
    ],
    transactions: Annotated[
        Path, typer.Option(help="Transactions including the weeks after the send date.")
    ],
    sent_date: DateOpt = None,
    window_days: Annotated[
        int, typer.Option(min=1, help="Response window after the send date.")
    ] = 30,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the table, report and plot.")
    ] = Path("lift"),
    campaign_id: Annotated[
        str, typer.Option(help="Id given to the outcomes written as campaign history.")
    ] = "campaign",
    log_mlflow: Annotated[
        bool, typer.Option(help="Log the report to MLflow (experiment churnml-lift).")
    ] = True,
) -> None:
    """Measure a finished campaign: incremental conversion and revenue, treated vs control."""
    from churnml.actions.lift import measure_lift
    from churnml.data import read_table, validate_transactions, write_table

    plan = read_table(contacts, "contacts")
    tx = validate_transactions(read_table(transactions, "transactions"))
    try:
        report = measure_lift(plan, tx, window_days=window_days, sent_date=sent_date)
    except ValueError as e:  # contacts missing the treated/control flag and similar
        raise ChurnmlError(f"contacts: {e}") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(report.to_frame(), out_dir / "lift.csv")
    (out_dir / "lift.md").write_text(report.to_markdown())
    plot = report.plot(out_dir / "lift.png")
    write_table(report.as_campaign_history(campaign_id), out_dir / "campaign_history.csv")
    out.print(report.to_markdown())
    out.print(
        f"Wrote {out_dir}/lift.csv, lift.md, lift.png and campaign_history.csv "
        "(use it as --campaigns history for the next training)."
    )
    if log_mlflow:
        from churnml.tracking.lift import log_lift

        run_id = log_lift(report, [out_dir / "lift.csv", out_dir / "lift.md", plot], campaign_id)
        out.print(f"MLflow run {run_id} (experiment churnml-lift)")
