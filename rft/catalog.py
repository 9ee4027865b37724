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
from rft.errors import UnknownBaseModelError, UnknownJudgeModelError
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


def _mantle_model(model_id: str, display_name: str) -> BaseModel:
    """An open-weight model: trained and served on Mantle, with Mantle's hyperparameters."""
    return BaseModel(
        id=model_id,
        display_name=display_name,
        provider="mantle",
        regions=assumptions.MODEL_REGIONS[model_id],
        needs_deployment=False,
        hyperparameters=frozenset(assumptions.MANTLE_HYPERPARAMETER_NAMES),
    )


MODELS: tuple[BaseModel, ...] = (
    BaseModel(
        id="amazon.nova-2-lite-v1:0:256k",
        display_name="Amazon Nova 2 Lite",
        provider="bedrock",
        regions=assumptions.MODEL_REGIONS["amazon.nova-2-lite-v1:0:256k"],
        needs_deployment=True,
        hyperparameters=frozenset(HYPERPARAMETER_NAMES),
    ),
    _mantle_model("openai.gpt-oss-20b", "OpenAI gpt-oss-20b"),
    _mantle_model("qwen.qwen3-32b", "Qwen3 32B"),
)

_BY_ID = {model.id: model for model in MODELS}


def canonical_model_id(model_id: str) -> str:
    """The catalog id of ``model_id``, which may be another spelling of it that a source uses
    (``rft.assumptions.MODEL_ID_ALIASES``)."""
    return assumptions.MODEL_ID_ALIASES.get(model_id, model_id)


def get_model(model_id: str, region: str | None = None) -> BaseModel:
    """The catalog entry for ``model_id`` (or an alias of it); with ``region``, also require it to
    be offered there."""
    # Type first: an unhashable value (a list from JSON) would make the lookup itself raise.
    model = _BY_ID.get(canonical_model_id(model_id)) if isinstance(model_id, str) else None
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


# --- Judge models ---------------------------------------------------------------------------------

# Prefixes of Bedrock's system-defined cross-Region inference profiles (`us.amazon.nova-lite-v1:0`).
INFERENCE_PROFILE_PREFIXES = ("us", "us-gov", "eu", "apac", "jp", "au", "ca", "global")


# The profile that routes to any commercial region; its foundation model is granted region-less.
GLOBAL_PROFILE = "global"


@dataclass(frozen=True)
class JudgeRoute:
    """How the judge calls one configured model id from one region."""

    model_id: str  # what Converse is given, as configured
    foundation_model: str  # the foundation model behind it
    profile: str | None  # the inference profile prefix ("us"), None when called in-region
    model_regions: tuple[str, ...]  # regions whose foundation model a call may reach by name

    def profile_arn(self, partition: str, region: str, account: str) -> str | None:
        if self.profile is None:
            return None
        return f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{self.model_id}"

    def foundation_model_arns(self, partition: str) -> tuple[str, ...]:
        return tuple(
            f"arn:{partition}:bedrock:{region}::foundation-model/{self.foundation_model}"
            for region in self.model_regions
        )

    def any_region_model_arn(self, partition: str) -> str | None:
        """The region-less foundation-model ARN a global profile's calls are authorized against
        (with `aws:RequestedRegion` "unspecified"); None for other routes."""
        if self.profile != GLOBAL_PROFILE:
            return None
        return f"arn:{partition}:bedrock:::foundation-model/{self.foundation_model}"


def split_inference_profile(model_id: str) -> tuple[str, str] | None:
    """`us.amazon.nova-lite-v1:0` -> (`us`, `amazon.nova-lite-v1:0`); a plain model id -> None."""
    prefix, dot, rest = model_id.partition(".")
    if dot and rest and prefix in INFERENCE_PROFILE_PREFIXES:
        return prefix, rest
    return None


def judge_route(model_id: str, region: str) -> JudgeRoute:
    """How ``model_id`` is called from ``region``; UnknownJudgeModelError (saying what would work)
    when the region cannot call it as written."""
    profile = split_inference_profile(model_id)
    foundation = profile[1] if profile else model_id
    routes = assumptions.JUDGE_MODEL_REGIONS.get(foundation)
    if routes is None:
        known = ", ".join(sorted(assumptions.JUDGE_MODEL_REGIONS))
        raise UnknownJudgeModelError(f"Unknown judge model {model_id!r}; known judge models: {known}.")
    if profile is None:
        if region in routes["in_region"]:
            return JudgeRoute(model_id, foundation, None, (region,))
        usable = judge_ids_in(region, foundation)
        hint = f"call it as {' or '.join(usable)}" if usable else "it is not callable there"
        raise UnknownJudgeModelError(
            f"Judge model {model_id!r} is not offered on demand in {region} "
            f"(in-region only in {', '.join(routes['in_region'])}); {hint}."
        )
    regions = routes["profiles"].get(profile[0])
    if regions is None or region not in regions:
        usable = judge_ids_in(region, foundation)
        hint = f"use {' or '.join(usable)}" if usable else "it is not callable there"
        offered = f"it is called from {', '.join(regions)}" if regions else "no such profile exists"
        raise UnknownJudgeModelError(
            f"The inference profile {model_id!r} cannot be called from {region} ({offered}); {hint}."
        )
    # A geographic profile routes among its regions; a global one anywhere, named region-less.
    reached = (region,) if profile[0] == GLOBAL_PROFILE else tuple(regions)
    return JudgeRoute(model_id, foundation, profile[0], reached)


def judge_ids_in(region: str, foundation_model: str) -> tuple[str, ...]:
    """The ids under which ``region`` can call ``foundation_model`` (in-region first)."""
    routes = assumptions.JUDGE_MODEL_REGIONS.get(foundation_model)
    if routes is None:
        return ()
    ids = [foundation_model] if region in routes["in_region"] else []
    ids += [
        f"{prefix}.{foundation_model}" for prefix, regions in routes["profiles"].items() if region in regions
    ]
    return tuple(ids)


def default_judge_model(region: str) -> str | None:
    """The judge an environment in ``region`` gets when its settings name none."""
    for foundation in assumptions.DEFAULT_JUDGE_MODELS:
        ids = judge_ids_in(region, foundation)
        if ids:
            return ids[0]
    return None
