"""Model contracts: what a model needs (features, trigger event) and what it is sent."""

from common.models.contract import ContractError, Input, ModelContract

__all__ = ["ContractError", "Input", "ModelContract"]
