"""Typed configuration: the shipped YAML is the documented default, and bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from churnml.config import Config
from churnml.errors import ConfigError

DEFAULT_YAML = Path(__file__).resolve().parents[1] / "training" / "configs" / "default.yaml"


def test_default_yaml_spells_out_the_built_in_defaults() -> None:
    assert Config.from_yaml(DEFAULT_YAML) == Config()


def test_every_field_is_documented_in_the_default_yaml() -> None:
    text = DEFAULT_YAML.read_text()
    for section, field in Config.model_fields.items():
        sub = getattr(Config(), section)
        names = type(sub).model_fields if hasattr(type(sub), "model_fields") else {section: field}
        for name in names:
            assert f"{name}:" in text, f"{section}.{name} missing from default.yaml"


def test_unknown_keys_and_bad_values_are_reported_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("time:\n  churn_window_days: -3\nltv:\n  tim_unit: W\n")
    with pytest.raises(ConfigError) as err:
        Config.from_yaml(bad)
    assert "time.churn_window_days" in str(err.value)
    assert "ltv.tim_unit" in str(err.value)


def test_broken_yaml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("time: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Config.from_yaml(broken)
    with pytest.raises(ConfigError, match="not found"):
        Config.from_yaml(tmp_path / "nope.yaml")


def test_overrides_replace_only_given_values() -> None:
    cfg = Config().with_overrides(time={"horizon_days": 180, "as_of": None})
    assert cfg.time.horizon_days == 180
    assert cfg.time.churn_window_days == Config().time.churn_window_days
    assert cfg.flat()["time.horizon_days"] == 180
