"""The demo registers every schema its first step (training offline) checks on a fresh stack."""

from common import topics
from common.demo import schema_topics
from jobs.inference_requests.models import MODELS


def test_demo_registers_the_feature_topics_every_model_contract_is_checked_against() -> None:
    wanted = schema_topics()
    for model in MODELS:
        assert model.trigger.topic in wanted
        for view in model.views:
            assert topics.feature_topic(view.name, view.version) in wanted, view.qualified_name
