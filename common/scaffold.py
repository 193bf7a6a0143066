"""``featurestream new job`` / ``new view``: a feature job folder, or one more view, that passes
lint and its own test unchanged.

``new job NAME --source payments --entity card_id`` writes ``jobs/NAME/`` (``features.py`` with
one example view, ``job.py``, ``values.yaml``, ``README.md``, ``__init__.py``) and
``tests/integration/test_job_NAME.py`` (the job over generated events against the reference),
then the generated files every job has: its output schema (``schemas generate``), its state
lock (``check-upgrade --update``) and the chart's goldens (``make golden``). ``new view NAME
--job JOB --entity KEY`` adds a view to an existing job's ``features.py`` the same way.

The source is the one the repository's feature jobs already declare for that topic (imported
from where it is defined, so a model contract can combine the new view with existing ones).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.features.columns import source_columns
from common.features.definitions import Source

REPO_ROOT = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


class ScaffoldError(ValueError):
    """A name is taken or malformed, or the source or entity is unknown; says which."""


@dataclass(frozen=True)
class SourceRef:
    """A declared ``Source``: the object and where it is defined."""

    source: Source
    module: str
    attribute: str


def _declared_sources(root: Path) -> list[SourceRef]:
    """Every ``X = Source(...)`` assigned (not imported) in a ``jobs/<job>/features.py``."""
    found = []
    for path in sorted((root / "jobs").glob("*/features.py")):
        module = f"jobs.{path.parent.name}.features"
        text = path.read_text(encoding="utf-8")
        loaded = importlib.import_module(module)
        for attribute, value in vars(loaded).items():
            if isinstance(value, Source) and re.search(rf"^{attribute}\s*=\s*Source\(", text, re.M):
                found.append(SourceRef(value, module, attribute))
    return found


def find_source(topic: str, root: Path = REPO_ROOT) -> SourceRef:
    """The ``Source`` of ``topic`` declared in some ``jobs/<job>/features.py``.

    Raises:
        ScaffoldError: no job declares one (the declared topics are listed).
    """
    declared = _declared_sources(root)
    for ref in declared:
        if ref.source.topic == topic:
            return ref
    known = sorted({ref.source.topic for ref in declared})
    raise ScaffoldError(f"no job declares a source for topic {topic!r}; declared: {known}")


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name):
        raise ScaffoldError(
            f"{kind} name {name!r}: snake_case, a letter first, at most 31 characters"
        )


def _check_entity(source: Source, entity: str) -> None:
    columns = {c.name: c for c in source_columns(source.schema)}
    if entity not in columns:
        raise ScaffoldError(
            f"source {source.topic!r} ({source.schema}.avsc) has no column {entity!r}; "
            f"it has {sorted(columns)}"
        )
    if columns[entity].sql_type != "STRING":
        raise ScaffoldError(f"entity {entity!r} is {columns[entity].sql_type}: keys are strings")


def _view_constant(view: str) -> str:
    return view.upper()


def _view_block(view: str, entity: str, source_attribute: str) -> str:
    return f'''{_view_constant(view)} = FeatureView(
    name="{view}",
    version=1,
    entity=Entity("{entity}"),
    source={source_attribute},
    description="Events per {entity} (edit: what this view tells a model).",
    features=(
        # One line per feature (a name unique in the repository's views, so training sets
        # and model contracts can take it as a column); windows such as "10m", "1h", "24h":
        #   Sum("<name>", "<numeric column>", window="1h"),
        #   DistinctCount("<name>", "<column>", window="24h"),
        #   SecondsSincePrev("<name>"),
        Count("{view}_count_1h", window="1h"),
    ),
)
'''


def _features_py(job: str, view: str, entity: str, ref: SourceRef) -> str:
    return f'''"""Feature views of the {job} job (scaffolded by `featurestream new job`)."""

from common.features import Count, Entity, FeatureView
from {ref.module} import {ref.attribute}

{_view_block(view, entity, ref.attribute)}
VIEWS = ({_view_constant(view)},)
'''


def _job_py(job: str) -> str:
    return f'''"""The {job} job: its views compiled to Flink SQL.

``python -m jobs.{job}.job --help`` lists its options.
"""

from common.features.sql import FeatureJob
from jobs.{job}.features import VIEWS

JOB = FeatureJob("{job}", VIEWS)

if __name__ == "__main__":
    from common.features.job import main

    main(JOB)
'''


def _values_yaml(job: str) -> str:
    dashed = job.replace("_", "-")
    return f"""# {job} on Kubernetes: what differs from the chart's defaults for this job
# (deploy/helm/featurestream-job/values.yaml documents every key). Environment defaults are in
# deploy/helm/env/<env>.yaml; this file wins over them (an <env>.force.yaml wins over it).

job:
  # The job folder; the release is featurestream-{dashed}.
  name: {job}
  # Task parallelism: more than the source topic's partitions leaves source tasks idle.
  parallelism: 2

taskManager:
  # Window state per key: size it from docs/benchmarks.md ("Window state at production scale").
  memory: 4096m
  # One TaskManager runs the whole job.
  slots: 2
"""


def _readme(job: str, view: str, entity: str, ref: SourceRef) -> str:
    dashed = job.replace("_", "-")
    return f"""# {job}

Features per `{entity}` from `{ref.source.topic}` (`features.py`, run as
`python -m jobs.{job}.job`). Release, consumer group and transactional-id prefix:
`featurestream-{dashed}`. Scaffolded by `featurestream new job`; edit `features.py`, then:

```bash
.venv/bin/featurestream schemas generate          # schemas/feature_<view>_v<N>.avsc
.venv/bin/featurestream check-upgrade {job} --update   # state.lock.json
make golden                                       # the chart's rendered goldens
.venv/bin/pytest tests/integration/test_job_{job}.py   # the job against the reference
.venv/bin/featurestream run {job}
.venv/bin/featurestream backfill {job} --input history.avro --then-live
```

| direction | topic | value schema | key |
| --- | --- | --- | --- |
| in | `{ref.source.topic}` | `schemas/{ref.source.schema}.avsc` | any (the job keys by view) |
| out | `features.{view}.v1` | `schemas/feature_{view}_v1.avsc` | `{entity}` |
| out | `dlq.{job}` | `schemas/dead_letter.avsc` | - |
| out | Redis `fs:{view}:v1:<{entity}>` | hash of the features, `event_time`, `version` | |

A change to a view's entity key or source is a new view version (`version=2`); adding or
removing features restores from savepoints (`featurestream check-upgrade {job}` says how).
"""


def _test_py(job: str, ref: SourceRef) -> str:
    return f'''"""{job}: the job over generated events equals the reference, every view and row
(scaffolded by `featurestream new job`; keep it as the views grow)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import fastavro
import pyarrow.parquet as pq
import pytest

from common.config import StackConfig
from common.generate.runner import generate_events
from common.runtime.catalog import load_job
from common.runtime.offline import run_offline
from common.serde import load_schema
from tests.integration.feature_checks import assert_match_reference

pytestmark = pytest.mark.integration

SOURCE: Final = "{ref.source.topic}"
START = datetime(2026, 1, 5, tzinfo=UTC)


def test_{job}_equals_the_reference(stack_config: StackConfig, tmp_path: Path) -> None:
    job = load_job("{job}")
    # 3,000 events about 10 s apart: over 8 hours, longer than the example's 1 h window.
    generated = generate_events(SOURCE, 3_000, seed=3, start=START, rate=0.1, disorder_ms=1_000)
    events = [e.record for e in generated]
    path = tmp_path / "events.avro"
    with path.open("wb") as handle:
        schema = fastavro.parse_schema(load_schema("{ref.source.schema}"))
        fastavro.writer(handle, schema, events)
    summary = run_offline(stack_config, job, str(path), tmp_path / "rows")
    assert not summary.dead_letters, summary.dead_letters
    for view in job.views:
        rows = pq.read_table(summary.files[view.qualified_name]).to_pylist()
        assert len(rows) == len(events), view.qualified_name
        assert_match_reference(view, rows, events)
'''


def _generated(job_names: list[str], on_progress: Callable[[str], None]) -> None:
    """The files every job has beside its folder: schemas, state locks, chart goldens."""
    from common.deploy import render, state_check
    from common.features import output_schema
    from common.runtime import catalog

    views = [v for name in catalog.job_names() for v in catalog.load_job(name).views]
    for path in output_schema.write_schema_files(views):
        on_progress(f"wrote {path}")
    for name in job_names:
        lock = state_check.lock_path(name)
        lock.write_text(state_check.lock_text(state_check.inventory(catalog.load_job(name))))
        on_progress(f"wrote {lock}")
    for path in render.update_generated_files():
        on_progress(f"wrote {path}")


def new_job(
    job: str,
    source_topic: str,
    entity: str,
    *,
    view: str | None = None,
    root: Path = REPO_ROOT,
    on_progress: Callable[[str], None] = lambda _: None,
) -> list[Path]:
    """Write the job folder and its test, then the generated files; the paths written.

    Raises:
        ScaffoldError: the job or view exists or is misnamed, or the source or entity is
            unknown.
    """
    view = view or job
    _check_name("job", job)
    _check_name("view", view)
    folder = root / "jobs" / job
    if folder.exists():
        raise ScaffoldError(f"{folder} exists: `new view NAME --job {job}` adds a view to it")
    ref = find_source(source_topic, root)
    _check_entity(ref.source, entity)
    taken = _view_names(root)
    if view in taken:
        raise ScaffoldError(f"a view named {view!r} exists (in jobs/{taken[view]})")
    test = root / "tests" / "integration" / f"test_job_{job}.py"
    files = {
        folder / "__init__.py": f'"""The {job} feature job."""\n',
        folder / "features.py": _features_py(job, view, entity, ref),
        folder / "job.py": _job_py(job),
        folder / "values.yaml": _values_yaml(job),
        folder / "README.md": _readme(job, view, entity, ref),
        test: _test_py(job, ref),
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        on_progress(f"wrote {path}")
    importlib.invalidate_caches()
    _generated([job], on_progress)
    return list(files)


def _view_names(root: Path) -> dict[str, str]:
    names: dict[str, str] = {}
    for path in sorted((root / "jobs").glob("*/features.py")):
        for match in re.finditer(r'name="([a-z0-9_]+)"', path.read_text(encoding="utf-8")):
            names[match.group(1)] = path.parent.name
    return names


def new_view(
    view: str,
    job: str,
    entity: str,
    *,
    root: Path = REPO_ROOT,
    on_progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """Add a view with one example feature to ``jobs/<job>/features.py`` (over the job's
    source), then regenerate schemas, the job's state lock and the goldens.

    Raises:
        ScaffoldError: no such job, the view exists, or the entity is not a source column.
    """
    _check_name("view", view)
    path = root / "jobs" / job / "features.py"
    if not path.is_file():
        raise ScaffoldError(f"no {path}: `new job {job} --source ... --entity ...` creates it")
    taken = _view_names(root)
    if view in taken:
        raise ScaffoldError(f"a view named {view!r} exists (in jobs/{taken[view]})")
    text = path.read_text(encoding="utf-8")
    match = re.search(r"^VIEWS = \(([^)]*)\)[ \t]*$", text, re.M)
    if match is None:
        raise ScaffoldError(f"{path} has no `VIEWS = (...)` line to add the view to")
    module = importlib.import_module(f"jobs.{job}.features")
    sources = {v.source for v in module.VIEWS}
    source = next(iter(sources))
    attribute = next(
        (k for k, v in vars(module).items() if isinstance(v, Source) and v == source), None
    )
    if attribute is None:
        raise ScaffoldError(f"{path} names no Source object the new view could read")
    _check_entity(source, entity)
    for name in ("Count", "Entity", "FeatureView"):
        text = _add_import(text, name)
    names = [n.strip() for n in match.group(1).split(",") if n.strip()]
    names.append(_view_constant(view))
    views_line = f"VIEWS = ({', '.join(names)}{',' if len(names) == 1 else ''})"
    text = re.sub(
        r"^VIEWS = \([^)]*\)[ \t]*$",
        _view_block(view, entity, attribute) + "\n" + views_line,
        text,
        count=1,
        flags=re.M,
    )
    path.write_text(text, encoding="utf-8")
    on_progress(f"wrote {path}")
    importlib.invalidate_caches()
    importlib.reload(module)  # imported above to find the source: read the new views
    job_module = importlib.import_module(f"jobs.{job}.job")
    importlib.reload(job_module)
    _generated([job], on_progress)
    return path


def _add_import(text: str, name: str) -> str:
    """``name`` in the ``from common.features import (...)`` block, if missing."""
    block = re.search(r"from common\.features import \(([^)]*)\)", text)
    if block is not None:
        names = [n.strip() for n in block.group(1).split(",") if n.strip()]
        if name in names:
            return text
        body = "".join(f"    {n},\n" for n in sorted({*names, name}))
        return (
            text[: block.start()] + f"from common.features import (\n{body})" + text[block.end() :]
        )
    line = re.search(r"^from common\.features import (.+)$", text, re.M)
    if line is not None:
        names = [n.strip() for n in line.group(1).split(",")]
        if name in names:
            return text
        joined = ", ".join(sorted({*names, name}))
        return text[: line.start()] + f"from common.features import {joined}" + text[line.end() :]
    raise ScaffoldError("features.py does not import from common.features")
