"""The feature jobs with every view on its stored vector only (no event log, no tiles).

The B side of ``bench/online_writes.py``: each view as defined, with ``read_time=False`` and
``tile=None``, so the online-store sink writes just the vector of each released row, as before
issue 17 (decisions 75, 76). ``bench.stored_payment_features`` and ``bench.stored_trade_features``
are the driver modules (``flink run -pym``) of these jobs.
"""

from dataclasses import replace

from common.features.sql import FeatureJob
from jobs.payment_features.job import JOB as PAYMENT_FEATURES
from jobs.trade_features.job import JOB as TRADE_FEATURES


def vectors_only(job: FeatureJob) -> FeatureJob:
    """``job`` with no view keeping read-time data (logs or tiles) in the online store."""
    views = tuple(replace(view, read_time=False, tile=None) for view in job.views)
    return replace(job, views=views)


STORED_PAYMENT_FEATURES = vectors_only(PAYMENT_FEATURES)
STORED_TRADE_FEATURES = vectors_only(TRADE_FEATURES)
