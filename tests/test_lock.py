"""requirements.lock is in step with pyproject.toml: every range is pinned, and satisfied.

A dependency added to pyproject.toml (or a range moved) without ``make lock`` fails
here, before a fresh clone installs versions CI never saw.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"


def _pins(text: str) -> dict[str, str]:
    """``name==version`` lines of a uv/pip-tools lock, by canonical name."""
    pins = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", line)
        if match:
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    listed = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        listed += extra
    return [Requirement(r) for r in listed]


def test_every_requirement_of_pyproject_is_pinned_within_its_range() -> None:
    pins = _pins(LOCK.read_text())
    assert len(pins) > 100  # the whole resolved set, not just the direct dependencies
    problems = []
    for req in _requirements():
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            problems.append(f"{req.name} is not in the lock")
        elif not req.specifier.contains(pinned, prereleases=True):
            problems.append(f"{req.name}=={pinned} is outside {req.specifier}")
    assert not problems, "requirements.lock is stale; run `make lock`: " + "; ".join(problems)


def test_lock_covers_every_extra_and_pins_the_installer() -> None:
    header = LOCK.read_text().splitlines()[:3]
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for extra in extras:
        assert any(f"--extra {extra}" in line for line in header), f"lock lacks extra {extra!r}"
    assert "uv" in _pins(LOCK.read_text())  # make install and bentoml build use the locked uv


def test_parser_reads_pins_and_ignores_comments() -> None:
    text = "# via x\nfoo-bar==1.2.3\n    # via y\nBaz[extra]==0.1 ; python_version >= '3'\n"
    assert _pins(text) == {"foo-bar": "1.2.3", "baz": "0.1"}
