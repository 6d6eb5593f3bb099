"""The action catalogue: what the win-back campaign may do, at what cost, to whom.

The catalogue is configuration, not code: marketing edits a YAML file
(``training/configs/actions.yaml``; the package ships an identical copy used by
:func:`default_catalogue`) and the policy reads it. Each action says

- ``channel``: email, sms, push, call or none; a contact needs the customer's
  consent for that channel (``consent_<channel>``; missing = no consent);
- ``unit_cost``: money spent per contact, whether or not the customer buys;
- ``offer_cost``: the give-away as a share of the expected order (a 15% discount
  is ``0.15``), paid only when the customer buys;
- ``prior_uplift``: the assumed increase in purchase probability, used only while
  no campaign history exists to learn it from;
- eligibility by lifecycle segment and value tier (omitted = all);
- ``cooldown_days`` and ``max_contacts`` per ``cap_window_days``, counted over every
  earlier contact *on the same channel*, so two e-mail actions share one inbox budget.

Exactly one action, ``no_action`` on channel ``none``, is the do-nothing choice.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from churnml.errors import ConfigError

Channel = Literal["email", "sms", "push", "call", "none"]

#: Channels in the order the contract's consent columns are listed.
CHANNELS: tuple[str, ...] = ("email", "sms", "push", "call", "none")

#: Id of the do-nothing action every catalogue must contain.
NO_ACTION = "no_action"

#: Label of held-out customers in uplift training; no action may use it as its id.
CONTROL = "control"

_RESOURCE = "actions.yaml"


class Action(BaseModel):
    """One thing the campaign can do to a customer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Stable id, e.g. 'email_discount'.")
    channel: Channel = Field(description="Contact channel; 'none' for no contact.")
    description: str = Field("", description="What the customer receives.")
    unit_cost: float = Field(0.0, ge=0, description="Money spent per contact.")
    offer_cost: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Offer value as a share of the expected order, paid on purchase.",
    )
    prior_uplift: float = Field(
        0.0, ge=-1, le=1, description="Assumed increase in purchase probability before any history."
    )
    eligible_segments: tuple[str, ...] | None = Field(
        None, description="Lifecycle segments that may receive it (None = all)."
    )
    eligible_value_tiers: tuple[str, ...] | None = Field(
        None, description="Value tiers that may receive it (None = all)."
    )
    cooldown_days: int = Field(
        0, ge=0, description="Minimum days since the last contact on this channel."
    )
    max_contacts: int | None = Field(
        None,
        ge=1,
        description="Most contacts on this channel within cap_window_days (None = no cap).",
    )
    cap_window_days: int = Field(30, gt=0, description="Length of the contact-cap window.")

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == CONTROL:
            raise ValueError(f"'{CONTROL}' is reserved for held-out customers")
        return value

    @model_validator(mode="after")
    def _no_action_is_free(self) -> Action:
        if self.channel == "none" and (self.unit_cost or self.offer_cost):
            raise ValueError(f"action '{self.id}' on channel 'none' cannot cost anything")
        return self

    @property
    def consent_column(self) -> str | None:
        """Customer column that must be true before this action may be sent."""
        return None if self.channel == "none" else f"consent_{self.channel}"

    @property
    def has_offer(self) -> bool:
        """Whether the action gives something away (subject to the recent-purchase rule)."""
        return self.offer_cost > 0


class ActionCatalogue(BaseModel):
    """An ordered list of actions; order breaks ties between equally valuable actions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actions: tuple[Action, ...]

    @model_validator(mode="after")
    def _check(self) -> ActionCatalogue:
        ids = [a.id for a in self.actions]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate action ids: {', '.join(dupes)}")
        if NO_ACTION not in ids:
            raise ValueError(f"the catalogue needs a '{NO_ACTION}' action on channel 'none'")
        if self.get(NO_ACTION).channel != "none":
            raise ValueError(f"'{NO_ACTION}' must use channel 'none'")
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> ActionCatalogue:
        """Load a catalogue file (``actions: [...]``); problems raise :class:`ConfigError`."""
        p = Path(path)
        try:
            text = p.read_text()
        except FileNotFoundError:
            raise ConfigError(f"action catalogue not found: {p}") from None
        return cls.from_yaml_text(text, source=str(p))

    @classmethod
    def from_yaml_text(cls, text: str, source: str = "actions") -> ActionCatalogue:
        """Parse catalogue YAML held in a string."""
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{source}: not valid YAML: {err}") from None
        return cls.from_dict(raw, source=source)

    @classmethod
    def from_dict(cls, raw: Any, source: str = "actions") -> ActionCatalogue:
        """Validate a plain mapping such as ``{"actions": [{...}, ...]}``."""
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
            raise ConfigError(f"{source}: {msgs}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain, YAML- and JSON-ready form (round-trips through :meth:`from_dict`)."""
        return self.model_dump(mode="json")

    def get(self, action_id: str) -> Action:
        """The action with this id; ``KeyError`` listing the known ids otherwise."""
        for a in self.actions:
            if a.id == action_id:
                return a
        raise KeyError(f"unknown action '{action_id}' (known: {', '.join(self.ids)})")

    @property
    def ids(self) -> list[str]:
        """Action ids in catalogue order."""
        return [a.id for a in self.actions]

    @property
    def contact_actions(self) -> list[Action]:
        """Every action that actually contacts the customer (all but channel 'none')."""
        return [a for a in self.actions if a.channel != "none"]

    def channel_of(self) -> dict[str, str]:
        """Action id -> channel."""
        return {a.id: a.channel for a in self.actions}

    def prior_uplifts(self) -> dict[str, float]:
        """Action id -> configured prior uplift, for the contact actions."""
        return {a.id: a.prior_uplift for a in self.contact_actions}

    def __iter__(self) -> Iterator[Action]:  # type: ignore[override]
        return iter(self.actions)

    def __len__(self) -> int:
        return len(self.actions)


def default_catalogue_text() -> str:
    """The YAML text of the catalogue bundled with the package."""
    return (files("churnml") / "configs" / _RESOURCE).read_text()


def default_catalogue() -> ActionCatalogue:
    """The bundled default catalogue (a copy of ``training/configs/actions.yaml``)."""
    return ActionCatalogue.from_yaml_text(
        default_catalogue_text(), source="churnml/configs/actions.yaml"
    )


def load_catalogue(path: str | Path | None = None) -> ActionCatalogue:
    """The catalogue at ``path``, or the bundled default when ``path`` is None."""
    return default_catalogue() if path is None else ActionCatalogue.from_yaml(path)
