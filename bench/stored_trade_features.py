"""trade_features writing only vectors to Redis (``bench/stored_jobs.py``): a driver module."""

from bench.stored_jobs import STORED_TRADE_FEATURES as JOB

if __name__ == "__main__":
    from common.features.job import main

    main(JOB)
