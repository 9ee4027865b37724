"""Typed, validated environment settings read from `cdk.json` (context key `environments`).

This is the one place that knows the settings' names, types, defaults and rules. A wrong
setting fails synth with a `ConfigError` naming the environment and the setting. The README's
configuration reference mirrors the dataclasses below.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from rft.catalog import default_judge_model, get_model, judge_route
from rft.errors import UnknownBaseModelError, UnknownJudgeModelError
from rft.health import GuardSettings
from rft.names import ENVIRONMENT_NAME_RULE, REGION_PATTERN, is_environment_name

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# A settings dataclass, as `_build` makes one.
_Settings = TypeVar("_Settings", bound="DataclassInstance")

# Used with fullmatch: `$` also matches before a final newline.
ACCOUNT_PATTERN = re.compile(r"[0-9]{12}")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
TAG_KEY_PATTERN = re.compile(r"[\w .:/=+\-@]{1,128}")
# The values CloudWatch Logs accepts for a retention period.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


class ConfigError(ValueError):
    """A setting in cdk.json is missing, unknown, of the wrong type or out of range."""

    def __init__(self, environment: str, setting: str, problem: str) -> None:
        self.environment, self.setting, self.problem = environment, setting, problem
        super().__init__(f"cdk.json environment '{environment}', setting '{setting}': {problem}")


def _check(predicate: typing.Callable[[Any], object], message: str) -> dict[str, Any]:
    """Field metadata: a rule the value must satisfy beyond its type (a truthy result passes, so a
    pattern's `fullmatch` serves as it is)."""
    return {"check": (predicate, message)}


@dataclass(frozen=True)
class RewardSettings:
    """The grader Lambdas of one environment."""

    memory_mb: int = field(default=1024, metadata=_check(lambda v: 128 <= v <= 10240, "must be 128-10240"))
    timeout_seconds: int = field(default=300, metadata=_check(lambda v: 30 <= v <= 900, "must be 30-900"))
    # None leaves the graders on the account's unreserved pool.
    reserved_concurrency: int | None = field(
        default=None, metadata=_check(lambda v: v is None or v >= 1, "must be at least 1 or null")
    )
    # The code_tests grader runs model-written code: true puts it in a VPC with no way out (no
    # internet, no NAT, no endpoints, a security group without egress). False lets that code reach
    # the internet and AWS APIs with the grader's role if it escapes the sandbox.
    isolate_code_grader: bool = True
    # Models the llm_judge grader may call (the first is its default), each as the environment's
    # region can call it: a foundation model id offered there on demand, or an inference profile id
    # (`us.amazon.nova-lite-v1:0`). Empty: the catalog's default judge for the region.
    judge_model_ids: tuple[str, ...] = ()
    # UNSAFE when true: code_tests grades even where its sandbox cannot be established (AWS Lambda
    # forbids prctl, see rft/assumptions.py); false: such samples score 0 (error_sandbox_unavailable).
    code_tests_allow_unsandboxed: bool = False


@dataclass(frozen=True)
class GatewaySettings:
    """The OpenAI-compatible serving endpoint."""

    throttle_rate_limit: float = field(default=20.0, metadata=_check(lambda v: v > 0, "must be positive"))
    throttle_burst_limit: int = field(default=40, metadata=_check(lambda v: v > 0, "must be positive"))
    # With both set, a JWT authorizer replaces IAM authorization.
    jwt_issuer: str | None = None
    jwt_audience: tuple[str, ...] = ()


@dataclass(frozen=True)
class OperationsSettings:
    """Dashboard, alarms and the budget."""

    monthly_budget_usd: float = field(default=1000.0, metadata=_check(lambda v: v > 0, "must be positive"))
    alarms_enabled: bool = True
    grader_error_rate_percent: float = field(
        default=5.0, metadata=_check(lambda v: 0 < v <= 100, "must be in (0, 100]")
    )
    grader_duration_timeout_ratio: float = field(
        default=0.8, metadata=_check(lambda v: 0 < v < 1, "must be in (0, 1)")
    )
    mean_score_drop_ratio: float = field(
        default=0.5, metadata=_check(lambda v: 0 < v < 1, "must be in (0, 1)")
    )
    sample_timeouts_per_5min: int = field(default=50, metadata=_check(lambda v: v >= 1, "must be >= 1"))
    gateway_5xx_rate_percent: float = field(
        default=5.0, metadata=_check(lambda v: 0 < v <= 100, "must be in (0, 100]")
    )
    # Throttles per 5 minutes that, in `evaluation_periods` periods in a row, raise a grader's alarm.
    grader_throttles_per_5min: int = field(default=1, metadata=_check(lambda v: v >= 1, "must be >= 1"))
    # The score-collapse alarm compares a grader's mean score over this window with the window before.
    mean_score_window_minutes: int = field(
        default=60,
        metadata=_check(lambda v: 5 <= v <= 360 and v % 5 == 0, "must be a multiple of 5 from 5 to 360"),
    )
    # 5-minute periods in a row that must breach; CloudWatch evaluates at most one day.
    evaluation_periods: int = field(default=3, metadata=_check(lambda v: 1 <= v <= 288, "must be 1-288"))


@dataclass(frozen=True)
class TrainingSettings:
    """How the workflow watches a run: the health guard's thresholds (rft.health.GuardSettings,
    README "The training health guard") and whether a run it judges `stop` is stopped."""

    auto_stop: bool = True
    guard: GuardSettings = field(default_factory=GuardSettings)


@dataclass(frozen=True)
class EnvironmentSettings:
    """One deployment target: one account and one region."""

    name: str
    region: str = field(metadata=_check(REGION_PATTERN.fullmatch, "must be an AWS region such as us-west-2"))
    notification_emails: tuple[str, ...] = field(
        metadata=_check(
            lambda v: len(v) >= 1 and all(EMAIL_PATTERN.fullmatch(e) for e in v),
            "must be a non-empty list of e-mail addresses",
        )
    )
    allowed_base_models: tuple[str, ...] = field(
        metadata=_check(lambda v: len(v) >= 1 and all(v), "must be a non-empty list of model ids")
    )
    # None: environment-agnostic synth, or CDK_DEFAULT_ACCOUNT when set.
    account: str | None = field(
        default=None,
        metadata=_check(lambda v: v is None or ACCOUNT_PATTERN.fullmatch(v), "must be 12 digits"),
    )
    retain_data: bool = False
    log_retention_days: int = field(
        default=30, metadata=_check(lambda v: v in LOG_RETENTION_DAYS, f"must be one of {LOG_RETENTION_DAYS}")
    )
    noncurrent_version_expiration_days: int = field(
        default=90, metadata=_check(lambda v: 1 <= v <= 3650, "must be 1-3650")
    )
    tags: Mapping[str, str] = field(
        default_factory=dict,
        metadata=_check(
            lambda v: all(TAG_KEY_PATTERN.fullmatch(k) for k in v), "tag keys must be 1-128 plain characters"
        ),
    )
    rewards: RewardSettings = field(default_factory=RewardSettings)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    operations: OperationsSettings = field(default_factory=OperationsSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    # Other environments (by name) that `rft models promote --from-env <this>` copies models into:
    # the data key, which encrypts this environment's custom models, lets each one's account use it
    # through Bedrock. Checked against the other environments by `promotion_accounts`.
    promote_to: tuple[str, ...] = field(
        default=(),
        metadata=_check(lambda v: all(v) and len(set(v)) == len(v), "must list environments, each once"),
    )

    @property
    def bedrock_base_models(self) -> tuple[str, ...]:
        """The catalog ids of the allowed base models that train on the Bedrock control plane
        (CreateModelCustomizationJob) and are served from custom models: the Mantle models are
        not Bedrock foundation models and need neither."""
        ids = (get_model(model_id) for model_id in self.allowed_base_models)
        return tuple(dict.fromkeys(model.id for model in ids if model.provider == "bedrock"))


def load_environments(raw: Any) -> dict[str, EnvironmentSettings]:
    """Parses the `environments` context object into settings, one per environment."""
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError("*", "environments", "cdk.json context must hold a non-empty 'environments' object")
    environments = {name: load_environment(name, values) for name, values in raw.items()}
    for name in environments:
        promotion_accounts(name, environments)
    return environments


def load_environment(name: str, values: Any) -> EnvironmentSettings:
    if not is_environment_name(name):
        raise ConfigError(name, "name", f"environment names are {ENVIRONMENT_NAME_RULE}")
    if not isinstance(values, Mapping):
        raise ConfigError(name, "*", f"must be an object, got {type(values).__name__}")
    settings = _build(EnvironmentSettings, {**values, "name": name}, name, prefix="")
    if settings.rewards.code_tests_allow_unsandboxed and not settings.rewards.isolate_code_grader:
        # Model-written code with neither a sandbox nor a closed network could take the data out.
        raise ConfigError(
            name,
            "rewards.code_tests_allow_unsandboxed",
            "true requires rewards.isolate_code_grader to stay true (the grader's closed network is "
            "then the only thing between model-written code and the internet)",
        )
    _check_gateway(name, settings.gateway)
    for index, model_id in enumerate(settings.allowed_base_models):
        try:
            get_model(model_id, settings.region)  # the catalog in rft/ is the one list of models
        except UnknownBaseModelError as error:
            raise ConfigError(name, f"allowed_base_models[{index}]", str(error)) from None
    return _with_judge_models(name, settings)


def promotion_accounts(name: str, environments: Mapping[str, EnvironmentSettings]) -> dict[str, str]:
    """The account of each environment that environment `name` promotes models to (`promote_to`),
    by environment name; a name that is unknown, `name` itself, or an environment whose account is
    not set or is `name`'s own fails, naming the entry. The key policy must name each account, so
    it has to be known at synth."""
    source = environments[name]
    accounts: dict[str, str] = {}
    for index, target in enumerate(source.promote_to):
        setting = f"promote_to[{index}]"
        if target == name:
            raise ConfigError(name, setting, "an environment cannot promote to itself")
        if target not in environments:
            known = ", ".join(environments)
            raise ConfigError(name, setting, f"unknown environment '{target}'; cdk.json defines: {known}")
        account = environments[target].account
        if account is None:
            raise ConfigError(
                name,
                setting,
                f"environment '{target}' sets no account; set its 'account' so this environment's data "
                "key policy can name the account models are copied into",
            )
        if account == source.account:
            raise ConfigError(
                name,
                setting,
                f"'{target}' is in this environment's own account {account}; no grant is needed",
            )
        accounts[target] = account
    return accounts


def _check_gateway(name: str, gateway: GatewaySettings) -> None:
    """A half-configured JWT authorizer is a mistake, not a silent fallback to IAM."""
    if bool(gateway.jwt_issuer) != bool(gateway.jwt_audience):
        missing = "gateway.jwt_audience" if gateway.jwt_issuer else "gateway.jwt_issuer"
        raise ConfigError(
            name, missing, "jwt_issuer and jwt_audience must be set together (or neither, for IAM)"
        )
    if gateway.jwt_issuer and not gateway.jwt_issuer.startswith("https://"):
        raise ConfigError(name, "gateway.jwt_issuer", f"must be an https:// URL, got {gateway.jwt_issuer!r}")


def _with_judge_models(name: str, settings: EnvironmentSettings) -> EnvironmentSettings:
    """Every judge id checked against what the region can call; none named: the region's default."""
    judges = settings.rewards.judge_model_ids
    if not judges:
        default = default_judge_model(settings.region)
        if default is None:
            raise ConfigError(
                name,
                "rewards.judge_model_ids",
                f"no default judge model is callable in {settings.region}; name one",
            )
        judges = (default,)
    for index, model_id in enumerate(judges):
        try:
            judge_route(model_id, settings.region)
        except UnknownJudgeModelError as error:
            raise ConfigError(name, f"rewards.judge_model_ids[{index}]", str(error)) from None
    rewards = dataclasses.replace(settings.rewards, judge_model_ids=judges)
    return dataclasses.replace(settings, rewards=rewards)


def _build(cls: type[_Settings], values: Mapping[str, Any], environment: str, prefix: str) -> _Settings:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            environment, prefix + unknown[0], f"unknown setting; known: {', '.join(sorted(fields))}"
        )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        path = prefix + name
        if name not in values:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(environment, path, "is required")
            continue
        value = _convert(hints[name], values[name], environment, path)
        check = f.metadata.get("check")
        if check and not check[0](value):
            raise ConfigError(environment, path, f"{check[1]}, got {values[name]!r}")
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except ValueError as error:  # a rule across fields, checked by the settings class itself
        raise ConfigError(environment, prefix.rstrip(".") or "*", str(error)) from None


def _convert(hint: Any, value: Any, environment: str, path: str) -> Any:
    """Checks `value` against the type hint and returns it in its frozen form."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, environment, path)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise ConfigError(environment, path, f"must be an object, got {value!r}")
        return _build(hint, value, environment, prefix=path + ".")
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(environment, path, f"must be a list, got {value!r}")
        return tuple(_convert(args[0], item, environment, f"{path}[{i}]") for i, item in enumerate(value))
    if origin is Mapping:
        if not isinstance(value, Mapping):
            raise ConfigError(environment, path, f"must be an object, got {value!r}")
        return types.MappingProxyType(
            {k: _convert(args[1], v, environment, f"{path}.{k}") for k, v in value.items()}
        )
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, str) and not value.strip():
        raise ConfigError(environment, path, "must not be empty")
    if type(value) is not hint:
        raise ConfigError(environment, path, f"must be {hint.__name__}, got {value!r}")
    return value


# --- The delivery pipeline (context key `pipeline`, optional) ---------------------------------------

REPOSITORY_PATTERN = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
CONNECTION_ARN_PATTERN = re.compile(
    r"arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[A-Za-z0-9-]+"
)
BRANCH_PATTERN = re.compile(r"[^\s~^:?*\[\\]{1,255}")


class PipelineConfigError(ConfigError):
    """A setting of the `pipeline` object in cdk.json is wrong."""

    def __init__(self, setting: str, problem: str) -> None:
        ValueError.__init__(self, f"cdk.json pipeline, setting '{setting}': {problem}")
        self.environment, self.setting, self.problem = "pipeline", setting, problem


@dataclass(frozen=True)
class PipelineSettings:
    """The CDK Pipelines delivery pipeline: one source, then one stage per environment in order."""

    account: str = field(metadata=_check(lambda v: ACCOUNT_PATTERN.fullmatch(v), "must be 12 digits"))
    region: str = field(metadata=_check(lambda v: REGION_PATTERN.fullmatch(v), "must be an AWS region"))
    # A CodeConnections (formerly CodeStar Connections) connection to the repository's host.
    connection_arn: str = field(
        metadata=_check(
            lambda v: CONNECTION_ARN_PATTERN.fullmatch(v), "must be a CodeConnections connection ARN"
        )
    )
    repository: str = field(
        metadata=_check(lambda v: REPOSITORY_PATTERN.fullmatch(v), "must be 'owner/name'")
    )
    stages: tuple[str, ...] = field(
        metadata=_check(lambda v: len(v) >= 1 and len(set(v)) == len(v), "must list environments, each once")
    )
    branch: str = field(
        default="main", metadata=_check(lambda v: BRANCH_PATTERN.fullmatch(v), "must be a branch name")
    )
    # Environments that wait for a person's approval before they are deployed.
    approval_before: tuple[str, ...] = ()


def load_pipeline(raw: Any, environments: Mapping[str, EnvironmentSettings]) -> PipelineSettings | None:
    """Parses the optional `pipeline` context object; None when cdk.json has none."""
    if raw is None:
        return None
    try:
        pipeline: PipelineSettings = _convert(PipelineSettings, raw, "pipeline", "pipeline")
    except PipelineConfigError:
        raise
    except ConfigError as error:
        raise PipelineConfigError(error.setting, error.problem) from None
    known = ", ".join(environments)
    for key in ("stages", "approval_before"):
        for index, name in enumerate(getattr(pipeline, key)):
            if name not in environments:
                raise PipelineConfigError(
                    f"pipeline.{key}[{index}]", f"unknown environment '{name}'; cdk.json defines: {known}"
                )
    for index, name in enumerate(pipeline.approval_before):
        if name not in pipeline.stages:
            raise PipelineConfigError(
                f"pipeline.approval_before[{index}]", f"'{name}' is not one of pipeline.stages"
            )
    for name in pipeline.stages:
        if environments[name].account is None:
            raise ConfigError(
                name, "account", "must be set for an environment that the pipeline deploys (cross-account)"
            )
    return pipeline
