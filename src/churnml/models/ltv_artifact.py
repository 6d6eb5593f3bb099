"""The stored form of a fitted LTV model: a JSON envelope that checks itself.

An LTV model is stored as its parameters and hyperparameters only (no pickles, no
training data) in an envelope with a format name and version, the churnml version
that wrote it and a ``model_id``: a hash of all of these, so that an edited or
corrupted file is refused rather than scored with.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from churnml import __version__ as churnml_version
from churnml.models.ltv_fitting import LTVArtifactError, lifetimes_version
from churnml.models.ltv_formulas import BGNBD_PARAMS, GAMMA_GAMMA_PARAMS

FORMAT = "churnml.ltv"
FORMAT_VERSION = 1
#: The fields the ``model_id`` hashes.
_KEYED = (
    "format",
    "format_version",
    "churnml_version",
    "config",
    "bgnbd_params",
    "gamma_gamma_params",
)


@dataclass(frozen=True)
class LTVArtifact:
    """The content of a checked envelope."""

    config: dict[str, Any]
    bgnbd_params: dict[str, float]
    gamma_gamma_params: dict[str, float]
    fit_report: dict[str, Any]


def model_id(payload: Mapping[str, Any]) -> str:
    """The first 16 hex digits of the SHA-256 of the keyed fields, as canonical JSON."""
    keyed = {k: payload[k] for k in _KEYED}
    text = json.dumps(keyed, sort_keys=True, allow_nan=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def artifact_payload(
    config: dict[str, Any],
    bgnbd_params: dict[str, float],
    gamma_gamma_params: dict[str, float],
    fit_report: dict[str, Any],
) -> dict[str, Any]:
    """The JSON-safe envelope of a fitted model, with its ``model_id``."""
    payload: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "churnml_version": churnml_version,
        "lifetimes_version": lifetimes_version(),
        "config": config,
        "bgnbd_params": bgnbd_params,
        "gamma_gamma_params": gamma_gamma_params,
        "fit_report": fit_report,
    }
    payload["model_id"] = model_id(payload)
    return payload


def read_artifact(d: Mapping[str, Any], allow_version_mismatch: bool = False) -> LTVArtifact:
    """The content of an envelope, after checking its format, fields, id and version.

    Raises :class:`LTVArtifactError` for a wrong format, missing fields, a ``model_id``
    that does not match the content, or another churnml version (unless
    ``allow_version_mismatch``, which only warns).
    """
    if not isinstance(d, Mapping) or d.get("format") != FORMAT:
        found = d.get("format") if isinstance(d, Mapping) else type(d).__name__
        raise LTVArtifactError(f"not a churnml LTV model (format {found!r})")
    if d.get("format_version") != FORMAT_VERSION:
        raise LTVArtifactError(
            f"unsupported LTV model format_version {d.get('format_version')!r} "
            f"(this churnml reads {FORMAT_VERSION})"
        )
    try:
        expected = model_id(d)
        config = dict(d["config"])
        bg = {k: float(d["bgnbd_params"][k]) for k in BGNBD_PARAMS}
        gg = {k: float(d["gamma_gamma_params"][k]) for k in GAMMA_GAMMA_PARAMS}
    except (KeyError, TypeError, ValueError) as err:
        raise LTVArtifactError(f"malformed LTV model: {type(err).__name__}: {err}") from None
    if d.get("model_id") != expected:
        raise LTVArtifactError(
            f"model_id mismatch: stored {d.get('model_id')!r}, content hashes to {expected!r} "
            "(the file was edited or corrupted)"
        )
    if d["churnml_version"] != churnml_version:
        msg = (
            f"LTV model {expected} was written by churnml {d['churnml_version']}, "
            f"this is churnml {churnml_version}"
        )
        if not allow_version_mismatch:
            raise LTVArtifactError(msg + "; refit it or pass allow_version_mismatch=True")
        warnings.warn(msg, UserWarning, stacklevel=3)
    return LTVArtifact(config, bg, gg, dict(d.get("fit_report") or {}))
