"""The trade_features job: its views compiled to Flink SQL.

``python -m jobs.trade_features.job --help`` lists its options.
"""

from common.features.sql import FeatureJob
from jobs.trade_features.features import VIEWS

JOB = FeatureJob("trade_features", VIEWS)

if __name__ == "__main__":
    from common.features.job import main

    main(JOB)
