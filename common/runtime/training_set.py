"""Training sets from a label table: a point-in-time join with the offline feature rows.

``featurestream training-set --labels labels.parquet --model payment_fraud --input history.avro
--output rows.parquet``: for each label row (entity keys, a time, labels, anything else), each
view's features as of the key's newest event at or before the label time, computed by the same
job that streams (``offline``) or read from an earlier ``offline`` output (``--features DIR``).
A vector older than the view's maximum age is not used (its features are null, and counted):
by default the view's largest window, past which every windowed feature it holds is stale.

The as-of join is DuckDB's ``ASOF LEFT JOIN`` (decision 65). Same-time peers of a key carry the
same window values; the peer with the largest event id is taken, as ``last`` is (decision 11), so
the result does not depend on file order.

Output columns: ``event_id`` (the labels' id column when given, else ``label-<row>``),
``event_time`` (the label time), the entity keys, the features (a model's inputs in contract
order, ``event.<column>`` inputs taken from the label table's column of that name), then every
other label column as it was. ``featurestream train`` takes the file as it is.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.config import StackConfig
from common.features.definitions import FeatureView
from common.models.contract import EVENT, ModelContract

ID_COLUMN = "event_id"
TIME_COLUMN = "event_time"
_ROW = "__label_row"
_AT = "__label_ms"


class TrainingSetError(ValueError):
    """A label table or a request that cannot be joined; says what is missing and where."""


@dataclass(frozen=True)
class ViewRows:
    """One view's offline rows (``offline``'s Parquet) and how old a vector may be."""

    view: FeatureView
    rows: pa.Table
    max_age: timedelta | None


@dataclass
class JoinStats:
    """Per view: label rows with a vector, without history, and with one too old to use."""

    matched: dict[str, int] = field(default_factory=dict)
    no_history: dict[str, int] = field(default_factory=dict)
    too_old: dict[str, int] = field(default_factory=dict)

    def line(self, view: str) -> str:
        """One view's counts, for progress output."""
        return (
            f"{view}: {self.matched[view]:,} matched, {self.no_history[view]:,} without history "
            f"at or before the label time, {self.too_old[view]:,} older than the maximum age"
        )


def default_max_age(view: FeatureView) -> timedelta | None:
    """The view's largest window (None for a view without windows: its values do not age)."""
    return max(view.windows, default=None)


def _millis(column: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    """Label times as UTC epoch milliseconds (naive timestamps are read as UTC)."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        return pc.cast(pc.cast(column, pa.timestamp("ms", tz=kind.tz)), pa.int64())
    if pa.types.is_integer(kind):
        return pc.cast(column, pa.int64())
    raise TrainingSetError(
        f"labels: time column {name!r} is {kind}; use a timestamp or epoch milliseconds"
    )


def _prepare_labels(labels: pa.Table, time_column: str, keys: Sequence[str]) -> pa.Table:
    missing = [c for c in (time_column, *keys) if c not in labels.column_names]
    if missing:
        raise TrainingSetError(
            f"labels have no column(s) {missing} (the time and the views' entity keys); they "
            f"have {labels.column_names}"
        )
    at = _millis(labels.column(time_column), time_column)
    if at.null_count:
        raise TrainingSetError(f"labels: {at.null_count} rows have no {time_column}")
    return labels.append_column(_ROW, pa.array(range(labels.num_rows), pa.int64())).append_column(
        _AT, at
    )


def point_in_time_join(
    labels: pa.Table,
    views: Sequence[ViewRows],
    *,
    time_column: str,
) -> tuple[dict[str, dict[str, pa.ChunkedArray]], JoinStats]:
    """Each view's features (by view name, then feature) for each label row, in label order;
    and the counts.

    Args:
        labels: The label table: ``time_column`` and every view's entity key.
        views: The views' offline rows (``event_id``, ``event_time``, key, features).
        time_column: The label time (timestamp, naive = UTC, or epoch milliseconds).

    Raises:
        TrainingSetError: a column is missing or a label time is null.
    """
    import duckdb  # imported here: only this verb needs it

    keys = list(dict.fromkeys(v.view.entity.key for v in views))
    prepared = _prepare_labels(labels, time_column, keys)
    stats = JoinStats()
    out: dict[str, dict[str, pa.ChunkedArray]] = {}
    con = duckdb.connect()
    con.register("labels", prepared)
    for number, vr in enumerate(views):
        name = vr.view.qualified_name
        key = vr.view.entity.key
        features = [f.name for f in vr.view.output_features]
        missing = [
            c for c in (ID_COLUMN, TIME_COLUMN, key, *features) if c not in vr.rows.schema.names
        ]
        if missing:
            raise TrainingSetError(f"{name}: the feature rows have no column(s) {missing}")
        table = f"rows_{number}"
        con.register(table, vr.rows.select([ID_COLUMN, TIME_COLUMN, key, *features]))
        limit = "NULL" if vr.max_age is None else str(int(vr.max_age.total_seconds() * 1000))
        selected = ", ".join(f'CASE WHEN fresh THEN f."{c}" END AS "{c}"' for c in features)
        result = con.sql(
            f"""
            WITH f AS (
                SELECT "{key}" AS k, epoch_ms("{TIME_COLUMN}") AS t, *
                FROM {table}
                QUALIFY row_number() OVER (
                    PARTITION BY "{key}", "{TIME_COLUMN}" ORDER BY "{ID_COLUMN}" DESC) = 1
            ),
            joined AS (
                SELECT l.{_ROW} AS row, l.{_AT} AS at, f.*,
                       f.t IS NOT NULL AND ({limit} IS NULL OR l.{_AT} - f.t <= {limit}) AS fresh
                FROM labels l ASOF LEFT JOIN f ON l."{key}" = f.k AND l.{_AT} >= f.t
            )
            SELECT row, t IS NOT NULL AS found, fresh, {selected}
            FROM joined f ORDER BY row
            """
        ).to_arrow_table()
        found = pc.sum(pc.cast(result.column("found"), pa.int64())).as_py() or 0
        fresh = pc.sum(pc.cast(result.column("fresh"), pa.int64())).as_py() or 0
        stats.matched[name] = fresh
        stats.no_history[name] = labels.num_rows - found
        stats.too_old[name] = found - fresh
        out[vr.view.name] = {feature: result.column(feature) for feature in features}
    return out, stats


Column = tuple[str, str]
"""An output column: its name and where it comes from (a view's name, or ``event``)."""


def assemble(
    labels: pa.Table,
    features: Mapping[str, Mapping[str, pa.ChunkedArray]],
    *,
    time_column: str,
    id_column: str | None,
    keys: Sequence[str],
    order: Sequence[Column],
) -> pa.Table:
    """The output table: ``event_id``, ``event_time``, keys, the ``order`` columns (features,
    and ``event`` inputs from the label column of that name), then every other label column."""
    if id_column is not None and id_column not in labels.column_names:
        raise TrainingSetError(f"labels have no id column {id_column!r}")
    missing = [n for n, src in order if src == EVENT and n not in labels.column_names]
    if missing:
        raise TrainingSetError(
            f"the model takes {[f'{EVENT}.{c}' for c in missing]} from the triggering event: the "
            "labels need column(s) of those names"
        )
    names = [n for n, _ in order]
    twice = sorted({n for n in names if names.count(n) > 1} | (set(names) & {*keys, ID_COLUMN}))
    if twice:
        raise TrainingSetError(f"column(s) {twice} would appear twice: rename a feature or a view")
    at = _millis(labels.column(time_column), time_column)
    ids = (
        pc.cast(labels.column(id_column), pa.string())
        if id_column
        else pa.array([f"label-{i}" for i in range(labels.num_rows)], pa.string())
    )
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        ID_COLUMN: ids,
        TIME_COLUMN: pc.cast(at, pa.timestamp("ms", tz="UTC")),
    }
    for key in keys:
        columns[key] = labels.column(key)
    for name, src in order:
        columns[name] = labels.column(name) if src == EVENT else features[src][name]
    for name in labels.column_names:
        if name not in columns and name != time_column:
            columns[name] = labels.column(name)
    return pa.table(columns)


def model_views(contract: ModelContract) -> tuple[list[FeatureView], list[Column]]:
    """A contract's views (those it takes inputs from) and its columns in contract order."""
    used = {i.source_name for i in contract.inputs}
    views = [v for v in contract.views if v.name in used]
    return views, [(i.name, i.source_name) for i in contract.inputs]


def read_rows(directory: Path, view: FeatureView) -> pa.Table:
    """An earlier ``offline`` output's file of ``view`` (``<dir>/<view>.v<N>.parquet``)."""
    path = directory / f"{view.qualified_name}.parquet"
    if not path.is_file():
        raise TrainingSetError(
            f"no {path}: --features takes a directory written by `featurestream offline JOB "
            f"--output DIR` that holds {view.qualified_name}"
        )
    return pq.read_table(path)


def views_by_name(names: Sequence[str]) -> list[FeatureView]:
    """The feature views named ``<view>.v<N>``, from the repository's feature jobs.

    Raises:
        TrainingSetError: a name matches no view (the known ones are listed).
    """
    from common.runtime import catalog

    known = {
        v.qualified_name: v for job in catalog.job_names() for v in catalog.load_job(job).views
    }
    unknown = [n for n in names if n not in known]
    if unknown:
        raise TrainingSetError(f"no views {unknown}; known: {', '.join(sorted(known))}")
    return [known[n] for n in names]


def _offline_rows(
    config: StackConfig,
    views: Sequence[FeatureView],
    source: str,
    *,
    parallelism: int | None,
    state_backend: str,
    on_progress: Callable[[str], None],
) -> dict[str, pa.Table]:
    """Each view's rows over ``source``, computed by its feature job as ``offline`` does."""
    from common.runtime import catalog
    from common.runtime.offline import run_offline

    by_job: dict[str, list[str]] = {}
    for job_name in catalog.job_names():
        names = {v.qualified_name for v in catalog.load_job(job_name).views}
        chosen = [v.qualified_name for v in views if v.qualified_name in names]
        if chosen:
            by_job[job_name] = chosen
    rows: dict[str, pa.Table] = {}
    with tempfile.TemporaryDirectory(prefix="training-set-") as tmp:
        for job_name, chosen in by_job.items():
            on_progress(f"computing {', '.join(chosen)} over {source} (offline {job_name})")
            summary = run_offline(
                config,
                catalog.load_job(job_name),
                source,
                Path(tmp) / job_name,
                views=chosen,
                parallelism=parallelism,
                on_progress=on_progress,
                state_backend=state_backend,
            )
            for name, path in summary.files.items():
                rows[name] = pq.read_table(path)
    return rows


@dataclass
class TrainingSetSummary:
    """What ``build`` read and wrote."""

    labels: int
    columns: list[str]
    stats: JoinStats
    output: Path
    seconds: float


def build(
    config: StackConfig,
    labels_path: Path,
    output: Path,
    *,
    model: ModelContract | None = None,
    views: Sequence[FeatureView] = (),
    source: str | None = None,
    features_dir: Path | None = None,
    time_column: str = "label_time",
    id_column: str | None = None,
    max_age: Mapping[str, timedelta | None] | None = None,
    parallelism: int | None = None,
    state_backend: str = "heap",
    on_progress: Callable[[str], None] = lambda _: None,
) -> TrainingSetSummary:
    """Join the labels at ``labels_path`` with a model's (or the given views') features.

    Features come from ``source`` (history: an Avro file or a topic, computed as ``offline``
    does) or from ``features_dir`` (an earlier ``offline`` output). ``max_age`` maps a view's
    qualified name (or ``*``) to its maximum age; a view missing from it gets
    ``default_max_age``. ``id_column`` defaults to the model's trigger id column when the labels
    have it.

    Raises:
        TrainingSetError: the request or the labels cannot be joined (says why).
    """
    started = time.monotonic()
    if (source is None) == (features_dir is None):
        raise TrainingSetError("give the history (--input) or an offline output (--features)")
    if model is not None:
        if views:
            raise TrainingSetError("give --model or --view, not both")
        chosen, order = model_views(model)
    elif views:
        chosen = list(views)
        order = [(f.name, v.name) for v in chosen for f in v.output_features]
    else:
        raise TrainingSetError("give --model or at least one --view")
    if not labels_path.is_file():
        raise TrainingSetError(f"no labels file {labels_path}")
    labels = pq.read_table(labels_path)
    if model is not None and id_column is None and model.trigger.id_column in labels.column_names:
        id_column = model.trigger.id_column
    if features_dir is not None:
        rows = {v.qualified_name: read_rows(features_dir, v) for v in chosen}
    else:
        assert source is not None
        rows = _offline_rows(
            config,
            chosen,
            source,
            parallelism=parallelism,
            state_backend=state_backend,
            on_progress=on_progress,
        )
    ages = dict(max_age or {})
    view_rows = []
    for view in chosen:
        name = view.qualified_name
        age = ages[name] if name in ages else ages.get("*", default_max_age(view))
        view_rows.append(ViewRows(view, rows[name], age))
    on_progress(f"joining {labels.num_rows:,} labels as of {time_column} (DuckDB ASOF JOIN)")
    features, stats = point_in_time_join(labels, view_rows, time_column=time_column)
    keys = list(dict.fromkeys(v.entity.key for v in chosen))
    table = assemble(
        labels,
        features,
        time_column=time_column,
        id_column=id_column,
        keys=keys,
        order=order,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, output)
    for view in chosen:
        on_progress(stats.line(view.qualified_name))
    return TrainingSetSummary(
        labels=labels.num_rows,
        columns=table.column_names,
        stats=stats,
        output=output,
        seconds=time.monotonic() - started,
    )
