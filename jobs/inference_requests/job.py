"""The inference_requests job: one request per triggering event of each model in ``models.py``.

``python -m jobs.inference_requests.job --help`` lists its options.
"""

from common.models.request_sql import InferenceJob
from jobs.inference_requests.models import MODELS

JOB = InferenceJob("inference_requests", MODELS)

if __name__ == "__main__":
    from common.models.request_job import main

    main(JOB)
