"""The base models RFT can train, written once.

The provider decides the control plane: ``bedrock`` models train through
CreateModelCustomizationJob and are served through a custom model deployment; ``mantle`` models
train and serve through the OpenAI-compatible Mantle endpoint. Regions are an assumption
(``rft.assumptions.MODEL_REGIONS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rft import assumptions
from rft.errors import UnknownBaseModelError
from rft.hyperparameters import NAMES as HYPERPARAMETER_NAMES
from rft.quoting import quote

Provider = Literal["bedrock", "mantle"]
PROVIDERS: tuple[Provider, ...] = ("bedrock", "mantle")


@dataclass(frozen=True)
class BaseModel:
    id: str
    display_name: str
    provider: Provider
    regions: tuple[str, ...]
    needs_deployment: bool
    hyperparameters: frozenset[str]  # the Bedrock hyperparameter names this model takes

    def available_in(self, region: str) -> bool:
        return region in self.regions


MODELS: tuple[BaseModel, ...] = (
    BaseModel(
        id="amazon.nova-2-lite-v1:0:256k",
        display_name="Amazon Nova 2 Lite",
        provider="bedrock",
        regions=assumptions.MODEL_REGIONS["amazon.nova-2-lite-v1:0:256k"],
        needs_deployment=True,
        hyperparameters=frozenset(HYPERPARAMETER_NAMES),
    ),
    BaseModel(
        id="openai.gpt-oss-20b",
        display_name="OpenAI gpt-oss-20b",
        provider="mantle",
        regions=assumptions.MODEL_REGIONS["openai.gpt-oss-20b"],
        needs_deployment=False,
        hyperparameters=frozenset(assumptions.MANTLE_HYPERPARAMETER_NAMES),
    ),
    BaseModel(
        id="qwen.qwen3-32b",
        display_name="Qwen3 32B",
        provider="mantle",
        regions=assumptions.MODEL_REGIONS["qwen.qwen3-32b"],
        needs_deployment=False,
        hyperparameters=frozenset(assumptions.MANTLE_HYPERPARAMETER_NAMES),
    ),
)

_BY_ID = {model.id: model for model in MODELS}


def get_model(model_id: str, region: str | None = None) -> BaseModel:
    """The catalog entry for ``model_id``; with ``region``, also require it to be offered there."""
    # Type first: an unhashable value (a list from JSON) would make the lookup itself raise.
    model = _BY_ID.get(model_id) if isinstance(model_id, str) else None
    if model is None:
        known = ", ".join(m.id for m in (models_in(region) if region else MODELS)) or "none"
        where = f" in {region}" if region else ""
        raise UnknownBaseModelError(
            f"Unknown base model {quote(model_id)}; known base models{where}: {known}."
        )
    if region is not None and not model.available_in(region):
        others = ", ".join(m.id for m in models_in(region)) or "none"
        raise UnknownBaseModelError(
            f"Base model {quote(model_id)} is not offered for RFT in {region} "
            f"(it is in {', '.join(model.regions)}); base models in {region}: {others}."
        )
    return model


def models_in(region: str) -> tuple[BaseModel, ...]:
    return tuple(model for model in MODELS if model.available_in(region))


def mantle_base_url(region: str) -> str:
    return assumptions.MANTLE_BASE_URL_TEMPLATE.format(region=region)
