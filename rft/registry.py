"""The model registry: model records, evaluations and aliases in SSM Parameter Store.

Layout (``/rft/<environment>/...``):

- ``models/<name>``: the ModelRecord JSON (the workflow's publish step writes it).
- ``evaluations/<name>``: the latest EvaluationSummary of a model (``rft eval`` writes it). Kept
  apart from the record so the CLI never rewrites what the workflow wrote (SSM has no conditional
  put, so read-modify-write of one parameter by two writers could lose an update).
- ``aliases/<alias>``: an AliasEntry JSON ``{"model", "previous", "by", "at", "reason", "forced"}``.

Moves of one alias are serialised by a lease lock (``rft.locks``, ``locks/aliases/<alias>``): the
promotion rule reads the current target and the move writes the new one while the lock is held, so
two promoters racing cannot both decide against the same old target and lose one of the moves.

Alias history is the SSM parameter history of the alias parameter: every move is one PutParameter,
so the move and its history entry are written atomically, SSM records the caller's IAM identity
(``LastModifiedUser``) beside the ``by`` the client states, and nothing has to be trimmed to fit
8 KB. SSM keeps the last 100 versions of a parameter (older ones are deleted as new ones arrive
while no label pins them), so the history shows the last 100 moves of an alias.

Resolution (``resolve``) looks for an alias first, then a model of that name; an alias may not take
the name of an existing model, so the two never shadow each other by accident.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from rft.errors import PromotionRefusedError, RftError, UnknownModelError
from rft.jobs import NAME_RULE, is_valid_name
from rft.locks import ssm_lock
from rft.quoting import quote
from rft.records import (
    MAX_PARAMETER_BYTES,
    EvaluationSummary,
    ModelRecord,
    alias_lock_parameter_name,
    alias_parameter_name,
    environment_prefix,
    evaluation_parameter_name,
    model_parameter_name,
    now_iso,
)

ALIAS_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class AliasEntry:
    """One position of an alias: what it points to, and who moved it there, when and why."""

    alias: str
    model: str
    previous: str | None
    by: str | None
    at: str
    reason: str
    forced: bool = False
    version: int | None = None  # SSM parameter version (history order)
    modified_by: str | None = None  # the IAM identity SSM recorded for the write

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if k not in ("alias", "version", "modified_by")}
        data["schema_version"] = ALIAS_SCHEMA_VERSION
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_parameter(cls, alias: str, parameter: dict[str, Any]) -> AliasEntry:
        value = parameter["Value"]
        try:
            data = json.loads(value)
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            # A hand-written alias holding just a model name still resolves.
            data = {"model": value.strip(), "reason": "set outside rft"}
        return cls(
            alias=alias,
            model=str(data.get("model", "")),
            previous=data.get("previous"),
            by=data.get("by"),
            at=str(data.get("at") or _iso(parameter.get("LastModifiedDate"))),
            reason=str(data.get("reason", "")),
            forced=bool(data.get("forced", False)),
            version=parameter.get("Version"),
            modified_by=parameter.get("LastModifiedUser"),
        )


@dataclass(frozen=True)
class PromotionDecision:
    allowed: bool
    reason: str
    candidate_mean: float | None
    current_model: str | None
    current_mean: float | None


class ModelRegistry:
    """Records, evaluations and aliases of one environment, through an SSM client."""

    def __init__(self, ssm_client: Any, environment: str) -> None:
        self._ssm = ssm_client
        self.environment = environment
        self.prefix = environment_prefix(environment)

    # --- models ---------------------------------------------------------------------------------

    def put_model(self, record: ModelRecord) -> ModelRecord:
        """Write (or overwrite) a record; returns what was stored (metrics trimmed to fit if needed)."""
        if record.environment != self.environment:
            raise RftError(
                f"The record of {record.name!r} belongs to {record.environment!r}, not {self.environment!r}."
            )
        stored = record.fit_to_parameter(MAX_PARAMETER_BYTES)
        self._put(
            model_parameter_name(self.environment, record.name), stored.to_json(), f"RFT model {record.name}"
        )
        return stored

    def get_model(self, name: str) -> ModelRecord:
        if not is_valid_name(name):
            raise UnknownModelError(f"{quote(name)} is not a valid model name ({NAME_RULE}).")
        parameter = self._get(model_parameter_name(self.environment, name))
        if parameter is None:
            raise UnknownModelError(self._unknown_message(name, "model"))
        return ModelRecord.from_json(parameter["Value"])

    def find_model(self, name: str) -> ModelRecord | None:
        try:
            return self.get_model(name)
        except UnknownModelError:
            return None

    def list_models(self) -> list[ModelRecord]:
        return sorted(
            (ModelRecord.from_json(p["Value"]) for p in self._by_path(f"{self.prefix}/models")),
            key=lambda record: record.name,
        )

    def model_names(self) -> list[str]:
        return sorted(p["Name"].rsplit("/", 1)[1] for p in self._by_path(f"{self.prefix}/models"))

    def delete_model(self, name: str) -> None:
        """Remove a model's record and its evaluation (what is already gone is not an error)."""
        for parameter in (
            evaluation_parameter_name(self.environment, name),
            model_parameter_name(self.environment, name),
        ):
            try:
                self._ssm.delete_parameter(Name=parameter)
            except ClientError as exc:
                if _code(exc) != "ParameterNotFound":
                    raise

    # --- evaluations ----------------------------------------------------------------------------

    def put_evaluation(self, summary: EvaluationSummary) -> None:
        """Store the latest evaluation of a model (the model must exist)."""
        self.get_model(summary.name)
        if not math.isfinite(summary.mean_reward):
            raise RftError(f"The evaluation of {summary.name!r} has no finite mean reward.")
        self._put(
            evaluation_parameter_name(self.environment, summary.name),
            summary.to_json(),
            f"RFT evaluation of {summary.name}",
        )

    def get_evaluation(self, name: str) -> EvaluationSummary | None:
        parameter = self._get(evaluation_parameter_name(self.environment, name))
        return EvaluationSummary.from_json(parameter["Value"]) if parameter else None

    # --- aliases --------------------------------------------------------------------------------

    def get_alias(self, alias: str) -> AliasEntry | None:
        parameter = self._get(alias_parameter_name(self.environment, alias))
        return AliasEntry.from_parameter(alias, parameter) if parameter else None

    def list_aliases(self) -> dict[str, AliasEntry]:
        entries = {}
        for parameter in self._by_path(f"{self.prefix}/aliases"):
            alias = parameter["Name"].rsplit("/", 1)[1]
            entries[alias] = AliasEntry.from_parameter(alias, parameter)
        return dict(sorted(entries.items()))

    def alias_history(self, alias: str) -> list[AliasEntry]:
        """Every recorded move of ``alias``, newest first."""
        name = alias_parameter_name(self.environment, alias)
        entries: list[AliasEntry] = []
        kwargs: dict[str, Any] = {"Name": name, "MaxResults": 50}
        try:
            while True:
                page = self._ssm.get_parameter_history(**kwargs)
                entries.extend(AliasEntry.from_parameter(alias, p) for p in page.get("Parameters", []))
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
        except ClientError as exc:
            if _code(exc) == "ParameterNotFound":
                return []
            raise
        return sorted(entries, key=lambda entry: entry.version or 0, reverse=True)

    def set_alias(
        self, alias: str, model: str, *, by: str | None, reason: str, forced: bool = False
    ) -> AliasEntry:
        """Point ``alias`` at ``model`` unconditionally (``promote`` applies the rule first)."""
        with self._alias_lock(alias, by):
            return self._set_alias(alias, model, by=by, reason=reason, forced=forced)

    def _alias_lock(self, alias: str, by: str | None) -> AbstractContextManager[None]:
        return ssm_lock(self._ssm, alias_lock_parameter_name(self.environment, alias), holder=by)

    def _set_alias(
        self, alias: str, model: str, *, by: str | None, reason: str, forced: bool = False
    ) -> AliasEntry:
        record = self.get_model(model)
        if not record.callable:
            raise RftError(
                f"Model {model!r} is {record.status}, not callable: an alias may only point at a ready model."
            )
        if self.find_model(alias) is not None:
            raise RftError(f"{alias!r} is already a model name; choose another alias name.")
        if not reason or not reason.strip():
            raise RftError("Moving an alias needs a reason (it is kept in the alias history).")
        _check_reason(reason, REASON_MAX_CHARS + RULE_REASON_MAX_CHARS)  # a forced reason quotes the rule
        current = self.get_alias(alias)
        entry = AliasEntry(
            alias=alias,
            model=model,
            previous=current.model if current else None,
            by=by,
            at=now_iso(),
            reason=reason.strip(),
            forced=forced,
        )
        self._put(alias_parameter_name(self.environment, alias), entry.to_json(), f"RFT alias {alias}")
        return entry

    def check_promotion(self, name: str, alias: str) -> PromotionDecision:
        """The promotion rule: ``name`` needs an evaluation, and its mean reward must not be below
        the current target's (evaluated with the same reward). No target, or a target without an
        evaluation, leaves nothing to beat."""
        self.get_model(name)
        return self.judge_promotion(name, self.get_evaluation(name), alias)

    def judge_promotion(
        self, name: str, candidate: EvaluationSummary | None, alias: str
    ) -> PromotionDecision:
        """The promotion rule for a candidate whose evaluation is given rather than read here: a
        model another environment evaluated and that is not in this registry yet (rft.model_copy)."""
        current = self.get_alias(alias)
        current_model = current.model if current else None
        if candidate is None:
            return PromotionDecision(
                False,
                f"{name!r} has no evaluation report; run `rft eval {name}` first",
                None,
                current_model,
                None,
            )
        if current is None:
            return PromotionDecision(True, f"{alias!r} is new", candidate.mean_reward, None, None)
        if current.model == name:
            return PromotionDecision(
                True,
                f"{alias!r} already points at {name!r}",
                candidate.mean_reward,
                name,
                candidate.mean_reward,
            )
        target = self.get_evaluation(current.model)
        if target is None:
            return PromotionDecision(
                True,
                f"the current target {current.model!r} has no evaluation to compare with",
                candidate.mean_reward,
                current.model,
                None,
            )
        if target.reward != candidate.reward:
            return PromotionDecision(
                False,
                f"{name!r} was evaluated with reward {candidate.reward!r} but {current.model!r} with "
                f"{target.reward!r}; evaluate both with the same reward",
                candidate.mean_reward,
                current.model,
                target.mean_reward,
            )
        if candidate.mean_reward < target.mean_reward:
            return PromotionDecision(
                False,
                f"mean reward {candidate.mean_reward:.4f} of {name!r} is below {target.mean_reward:.4f} of "
                f"{current.model!r}",
                candidate.mean_reward,
                current.model,
                target.mean_reward,
            )
        return PromotionDecision(
            True,
            f"mean reward {candidate.mean_reward:.4f} of {name!r} is not below {target.mean_reward:.4f} of "
            f"{current.model!r}",
            candidate.mean_reward,
            current.model,
            target.mean_reward,
        )

    def promote(
        self, name: str, alias: str, *, by: str | None, force_reason: str | None = None
    ) -> AliasEntry:
        """Move ``alias`` to ``name`` if the promotion rule allows it, or when forced with a reason.
        The rule is applied and the alias moved under the alias's lock (no other move in between)."""
        with self._alias_lock(alias, by):
            return self._promote(name, alias, by=by, force_reason=force_reason)

    def _promote(self, name: str, alias: str, *, by: str | None, force_reason: str | None) -> AliasEntry:
        decision = self.check_promotion(name, alias)
        enforce(decision, name, alias, force_reason)
        if decision.allowed:
            return self._set_alias(alias, name, by=by, reason=f"promoted: {decision.reason}")
        forced = (force_reason or "").strip()  # enforce refused an unforced move the rule refuses
        return self._set_alias(
            alias,
            name,
            by=by,
            reason=f"forced: {forced} (rule: {decision.reason})",
            forced=True,
        )

    def resolve(self, model_or_alias: str, *, listing: bool = False) -> ModelRecord:
        """The record an API request's ``model`` means: an alias, else a model name.

        Cheap for any input, since every caller of the gateway can send any name: an invalid name
        costs no SSM call, an unknown one a single GetParameters (alias and model read together),
        and the error lists the known models and aliases only when ``listing`` (a person at a
        terminal is worth the few calls it takes; the gateway is not).
        """
        if not is_valid_name(model_or_alias):
            raise UnknownModelError(
                f"No model or alias named {quote(model_or_alias)} in environment {self.environment!r} "
                "(not a valid name)."
            )
        alias_name = alias_parameter_name(self.environment, model_or_alias)
        model_name = model_parameter_name(self.environment, model_or_alias)
        found = {
            p["Name"]: p
            for p in self._ssm.get_parameters(Names=[alias_name, model_name]).get("Parameters", [])
        }
        if alias_name in found:
            entry = AliasEntry.from_parameter(model_or_alias, found[alias_name])
            try:
                return self.get_model(entry.model)
            except (UnknownModelError, RftError) as exc:
                raise UnknownModelError(
                    f"Alias {model_or_alias!r} points at {quote(entry.model)}, "
                    f"which is not a model in environment {self.environment!r}."
                ) from exc
        if model_name in found:
            return ModelRecord.from_json(found[model_name]["Value"])
        if listing:
            raise UnknownModelError(self._unknown_message(model_or_alias, "model or alias"))
        raise UnknownModelError(
            f"No model or alias named {model_or_alias!r} in environment {self.environment!r}."
        )

    # --- SSM plumbing ---------------------------------------------------------------------------

    def _put(self, name: str, value: str, description: str) -> None:
        size = len(value.encode("utf-8"))
        if size > MAX_PARAMETER_BYTES:
            raise RftError(
                f"{name} would be {size:,} bytes; SSM parameters hold at most {MAX_PARAMETER_BYTES:,}."
            )
        self._ssm.put_parameter(
            Name=name,
            Value=value,
            Type="String",
            Overwrite=True,
            Description=description[:1024],
            # Standard (free) while the value fits 4 KB, Advanced only when needed; unlike an explicit
            # "Standard", this never fails on a parameter that an earlier, larger value made Advanced.
            Tier="Intelligent-Tiering",
        )

    def _get(self, name: str) -> dict[str, Any] | None:
        try:
            parameter: dict[str, Any] = self._ssm.get_parameter(Name=name)["Parameter"]
            return parameter
        except ClientError as exc:
            if _code(exc) == "ParameterNotFound":
                return None
            raise

    def _by_path(self, path: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Path": path, "Recursive": False, "MaxResults": 10}
        while True:
            page = self._ssm.get_parameters_by_path(**kwargs)
            yield from page.get("Parameters", [])
            if not page.get("NextToken"):
                return
            kwargs["NextToken"] = page["NextToken"]

    def _unknown_message(self, name: str, kind: str) -> str:
        try:
            models = self.model_names()
            aliases = list(self.list_aliases())
        except ClientError:
            return f"No {kind} named {quote(name)} in environment {self.environment!r}."
        known = ", ".join(models[:20]) or "none"
        known_aliases = ", ".join(aliases[:20]) or "none"
        return (
            f"No {kind} named {quote(name)} in environment {self.environment!r}; "
            f"models: {known}; aliases: {known_aliases}."
        )


def enforce(decision: PromotionDecision, name: str, alias: str, force_reason: str | None) -> None:
    """Raise PromotionRefusedError unless the rule allows the move, or a usable reason forces it."""
    if decision.allowed:
        return
    if force_reason is None:
        raise PromotionRefusedError(
            f"Cannot promote {name!r} to {alias!r}: {decision.reason} (or force with a reason)."
        )
    if not force_reason.strip():
        raise PromotionRefusedError("A forced promotion needs a reason; it is kept in the alias history.")
    _check_reason(force_reason)


# A reason is one line of text in every history listing: printable, and short enough to read.
REASON_MAX_CHARS = 500
RULE_REASON_MAX_CHARS = 400  # what the promotion rule adds: two model names (63 each) and figures


def _check_reason(reason: str, max_chars: int = REASON_MAX_CHARS) -> None:
    """Refused before the alias moves: what is stored must print anywhere, so nothing can fail after."""
    if len(reason) > max_chars:
        raise RftError(f"The reason is {len(reason):,} characters; at most {max_chars} are kept.")
    if not reason.isprintable() or any("\ud800" <= c <= "\udfff" for c in reason):
        raise RftError(
            "The reason must be printable text on one line (no control characters, line breaks or "
            "bytes that are not UTF-8)."
        )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _iso(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(value, "strftime") else now_iso()
