"""The payment_features job: its views compiled to Flink SQL.

``python -m jobs.payment_features.job --help`` lists its options.
"""

from common.features.sql import FeatureJob
from jobs.payment_features.features import VIEWS

JOB = FeatureJob("payment_features", VIEWS)

if __name__ == "__main__":
    from common.features.job import main

    main(JOB)
