"""Running jobs: the layer above feature views and model contracts, serving both.

``catalog`` finds the jobs of ``jobs/``; ``launch`` submits them to the local cluster (``runs``
records how, ``provenance`` with which code); ``offline`` and ``training_set`` run them over
history (``common.deploy.backfill`` too: it hands over through the savepoint verbs). Imports go
one way: runtime -> models -> features (``common.deploy`` and the CLI sit above runtime).
"""
