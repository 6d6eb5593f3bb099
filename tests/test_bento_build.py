"""``bentoml build`` of the project's bentofile.yaml, in a temporary BentoML home (no Docker)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _names(requirements: list[str]) -> dict[str, str]:
    """Requirement name (normalised) -> the whole requirement string."""
    return {
        re.split(r"[<>=!~\[ ;@]", r, maxsplit=1)[0].lower().replace("_", "-"): r.replace(" ", "")
        for r in requirements
    }


def test_bentofile_lists_every_runtime_dependency_of_pyproject() -> None:
    bentofile = yaml.safe_load((REPO / "bentofile.yaml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    packages = _names(bentofile["python"]["packages"])
    for name, requirement in _names(project["dependencies"]).items():
        assert packages.get(name) == requirement, f"bentofile.yaml: {name} should be {requirement}"
    assert bentofile["service"] == "service.service:ChurnService"


def test_bentoml_build_succeeds(tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    bentoml = Path(sys.executable).with_name("bentoml")
    result = subprocess.run(
        [str(bentoml), "build", str(REPO), "--output", "tag"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    match = re.search(r"churnml:(\w+)", result.stdout)
    assert match, result.stdout
    bento = tmp_path / "bentoml" / "bentos" / "churnml" / match.group(1)
    src = bento / "src"
    assert (src / "service" / "service.py").exists()
    assert (src / "churnml" / "serving" / "service.py").exists()  # src/ layout flattened
    assert (src / "churnml" / "configs" / "actions.yaml").exists()
    assert not list(src.rglob("__pycache__")) and not (src / "tests").exists()
    requirements = (bento / "env" / "python" / "requirements.txt").read_text()
    assert "lightgbm" in requirements and "mlflow" in requirements
    manifest = yaml.safe_load((bento / "bento.yaml").read_text())
    routes = {r["route"] for r in manifest["schema"]["routes"]}
    assert {"/score", "/next_best_action", "/score_batch"} <= routes


def test_service_entry_point_is_the_library_service() -> None:
    sys.path.insert(0, str(REPO))
    try:
        from service.service import ChurnService as Entry

        from churnml.serving.service import ChurnService
    finally:
        sys.path.remove(str(REPO))
    assert Entry is ChurnService
