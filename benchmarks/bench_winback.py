"""Win-back policy against "top churn risk", "random" and the oracle, by the simulator's truth.

Run ``python benchmarks/bench_winback.py [--customers 20000] [--seeds 0,1]
[--outcomes conversion,revenue]``.

For each win-back scenario of :class:`churnml.datasets.simulator.SimulationParams`
(``dropouts_only``, ``dropouts_and_actives``, ``contacts_hurt``,
``churn_risk_targeting``) and seed, a shop is simulated, the LTV and uplift models
are trained on what it knew at ``as_of`` (:func:`churnml.evaluation.policy_study.prepare_study`),
and campaigns of 2.5 %, 5 % and 10 % of the customers are compared by their *true*
incremental value (margin x true incremental revenue over the horizon - contact
costs): the policy, "top churn risk" and "random" with the same action choice and
guardrails, and the oracle. ``--outcomes`` compares the policy valuing contacts by
conversion uplift alone (``policy.revenue_uplift = false``) with the default, which
also learns incremental revenue from the campaigns' ``revenue``. The figures go into
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import itertools
import time

import pandas as pd

from churnml.config import Config
from churnml.datasets.simulator import SimulationParams, simulate
from churnml.evaluation.policy_study import prepare_study

SCENARIOS = ("dropouts_only", "dropouts_and_actives", "contacts_hurt", "churn_risk_targeting")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--outcomes", default="revenue", help="conversion and/or revenue")
    args = parser.parse_args()
    rows = []
    for scenario, seed, outcome in itertools.product(
        args.scenarios.split(","),
        (int(s) for s in args.seeds.split(",")),
        args.outcomes.split(","),
    ):
        start = time.perf_counter()
        params = getattr(SimulationParams, scenario)()
        config = Config().with_overrides(policy={"revenue_uplift": outcome == "revenue"})
        study = prepare_study(simulate(args.customers, seed=seed, params=params), config)
        for share in (0.025, 0.05, 0.10):
            report = study.compare(int(share * args.customers))
            value = report["true_value"]
            rows.append(
                {
                    "scenario": scenario,
                    "seed": seed,
                    "outcome": outcome,
                    "contacts": int(report.loc["policy", "contacts"]),
                    "policy": value["policy"],
                    "top_churn_risk": value["top_churn_risk"],
                    "random": value["random"],
                    "oracle": value["oracle"],
                    "policy/risk": value["policy"] / value["top_churn_risk"],
                    "policy share of oracle": report.loc["policy", "share_of_oracle"],
                    "risk share of oracle": report.loc["top_churn_risk", "share_of_oracle"],
                    "violations": int(report.loc["policy", "violations"]),
                    "negative_learned": int(report.loc["policy", "negative_learned"]),
                }
            )
        print(f"{scenario} seed {seed} {outcome}: {time.perf_counter() - start:.1f} s", flush=True)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
