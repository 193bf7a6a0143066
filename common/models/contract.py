"""Model contracts: a model's name, version, trigger event and ordered inputs.

A contract says what a model is sent for each triggering event: the features it needs, named
``<view>.<feature>`` (a feature of one of the contract's views) or ``event.<column>`` (a column
of the triggering event itself), each with the Avro type the model expects. The inference
request job computes exactly these values for the event (point-in-time correct, the same
definitions as the feature jobs) and the training set has the same columns, in the same order.

Example::

    PAYMENT_FRAUD = ModelContract(
        name="payment_fraud", version=1, trigger=PAYMENTS,
        views=(PAYMENT_CARD, PAYMENT_MERCHANT),
        inputs=(
            Input("event.amount_usd_cents", "long"),
            Input("payment_card.card_txn_count_10m", "long"),
            Input("payment_merchant.merchant_txn_count_1h", "long"),
        ),
    )

``ModelContract`` checks itself against the definitions when it is built; ``check_registered``
(``common.models.registered``) checks it against the feature schemas in the registry at job start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from common import topics
from common.features.columns import feature_kind, source_columns
from common.features.definitions import FeatureView, Source

AvroType = Literal["long", "double", "string", "boolean"]
EVENT = "event"
"""The pseudo-view of an ``event.<column>`` input: the triggering event's own column."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_AVRO_OF_KIND: dict[str, AvroType] = {
    "BIGINT": "long",
    "INT": "long",
    "DOUBLE": "double",
    "FLOAT": "double",
    "STRING": "string",
    "BOOLEAN": "boolean",
}


class ContractError(ValueError):
    """A contract does not match its definitions or the registered schemas; says what and where."""


@dataclass(frozen=True)
class Input:
    """One model input: ``<view>.<feature>`` or ``event.<column>``, and its Avro type.

    Attributes:
        ref: The reference, e.g. ``payment_card.card_txn_count_10m`` or ``event.amount_usd_cents``.
        type: The Avro type the model expects (``long``, ``double``, ``string``, ``boolean``);
            every input is nullable in requests (a feature with no data is an explicit null).
    """

    ref: str
    type: AvroType

    def __post_init__(self) -> None:
        parts = self.ref.split(".")
        if len(parts) != 2 or not all(_NAME.match(p) for p in parts):
            raise ContractError(
                f"input {self.ref!r}: use '<view>.<feature>' or 'event.<column>' (snake_case)"
            )
        if self.type not in get_args(AvroType):
            raise ContractError(
                f"input {self.ref!r}: type {self.type!r} is not one of {get_args(AvroType)}"
            )

    @property
    def source_name(self) -> str:
        """The view name, or ``event``."""
        return self.ref.split(".")[0]

    @property
    def name(self) -> str:
        """The feature or column name: the input's field name in requests and training rows."""
        return self.ref.split(".")[1]


@dataclass(frozen=True)
class ModelContract:
    """A model version and exactly what it is sent per triggering event.

    Attributes:
        name: snake_case model name (``payment_fraud``).
        version: Model contract version; a change of inputs is a new version.
        trigger: The source whose every valid event gets one request.
        views: The feature views (pinned versions) the inputs come from; all over ``trigger``.
        inputs: Ordered model inputs; the order is the feature order of the model artefact.
        description: What the model scores.
    """

    name: str
    version: int
    trigger: Source
    views: tuple[FeatureView, ...]
    inputs: tuple[Input, ...]
    description: str = ""

    def __post_init__(self) -> None:
        where = f"model {self.name!r} v{self.version}"
        if not _NAME.match(self.name):
            raise ContractError(f"{where}: name must be snake_case ([a-z][a-z0-9_]*)")
        if self.version < 1:
            raise ContractError(f"{where}: version must be >= 1")
        if not self.views or not self.inputs:
            raise ContractError(f"{where}: needs at least one view and one input")
        names = [v.name for v in self.views]
        if len(set(names)) != len(names):
            raise ContractError(f"{where}: a view appears twice (pin one version per view)")
        for view in self.views:
            if view.source != self.trigger:
                raise ContractError(
                    f"{where}: view {view.qualified_name} reads {view.source.topic!r}, not the "
                    f"trigger {self.trigger.topic!r}; features must be computed from the "
                    "triggering events to be point-in-time correct"
                )
        keys = [v.entity.key for v in self.views]
        if len(set(keys)) != len(keys):
            raise ContractError(f"{where}: two views share the entity key; merge them")
        fields = [i.name for i in self.inputs]
        duplicates = sorted({n for n in fields if fields.count(n) > 1})
        if duplicates:
            raise ContractError(f"{where}: input names {duplicates} appear twice")
        problems = [p for i in self.inputs if (p := self._definition_problem(i))]
        if problems:
            raise ContractError(f"{where}: " + "; ".join(problems))

    def _definition_problem(self, item: Input) -> str | None:
        if item.source_name == EVENT:
            columns = {c.name: c for c in source_columns(self.trigger.schema)}
            column = columns.get(item.name)
            if column is None:
                return f"{item.ref}: no column {item.name!r} in schema {self.trigger.schema!r}"
            if column.sql_type.startswith("DECIMAL"):
                actual: AvroType | None = "double"  # sent as a double, cast in SQL
            else:
                actual = _AVRO_OF_KIND.get(column.sql_type)
            if actual is None:
                return f"{item.ref}: column type {column.sql_type} cannot be a model input"
        else:
            view = self.view(item.source_name)
            if view is None:
                return f"{item.ref}: no view {item.source_name!r} among the contract's views"
            features = {f.name: f for f in view.output_features}
            feature = features.get(item.name)
            if feature is None:
                return f"{item.ref}: view {view.qualified_name} has no output feature {item.name!r}"
            actual = _AVRO_OF_KIND[feature_kind(view, feature)]
        if actual != item.type:
            return f"{item.ref}: the definition gives {actual}, the contract expects {item.type}"
        return None

    def view(self, name: str) -> FeatureView | None:
        """The contract's view called ``name``, or None."""
        return next((v for v in self.views if v.name == name), None)

    @property
    def qualified_name(self) -> str:
        """``<name>.v<version>``."""
        return f"{self.name}.v{self.version}"

    @property
    def request_topic(self) -> str:
        """``inference.requests.<model>.v<N>``."""
        return topics.request_topic(self.name, self.version)

    @property
    def result_topic(self) -> str:
        """``inference.results.<model>.v<N>``."""
        return topics.result_topic(self.name, self.version)

    @property
    def input_names(self) -> list[str]:
        """Field names of the inputs, in model order."""
        return [i.name for i in self.inputs]

    @property
    def entity_keys(self) -> list[str]:
        """The entity key column of each view, in view order."""
        return [v.entity.key for v in self.views]
