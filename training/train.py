"""Train from a YAML config: ``python training/train.py --config training/configs/default.yaml``.

A thin entry point for schedulers (cron, Airflow, CI) that prefer a script to the
``churnml train`` command; both call :func:`churnml.pipeline.train`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from churnml.config import Config
from churnml.errors import ChurnmlError
from churnml.pipeline import train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", type=Path, default=Path(__file__).parent / "configs" / "default.yaml"
    )
    parser.add_argument(
        "--dataset",
        choices=["simulated", "cdnow_sample", "cdnow_master"],
        help="bundled data instead of the files named in the config",
    )
    args = parser.parse_args(argv)
    try:
        config = Config.from_yaml(args.config)
        if args.dataset or config.data.transactions is None:
            config = config.with_overrides(data={"dataset": args.dataset or "simulated"})
        result = train(config)
    except ChurnmlError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"run {result.run_id}; version {result.version}; "
        f"{result.decision.reason if result.decision else 'not registered'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
