"""`rft models`: the trained models of an environment, and its aliases (rft.registry holds the rules)."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from rft.cli.common import (
    FromProfileOption,
    FromRegionOption,
    Scope,
    YesOption,
    confirm,
    console,
    environment,
    print_json,
    say,
    scoped,
    shown,
)
from rft.cli.render import Col, fitted_table, short_time
from rft.environment import Environment
from rft.records import EvaluationSummary, ModelRecord
from rft.registry import AliasEntry, ModelRegistry

app = typer.Typer(
    help="List trained models, promote them behind aliases, show alias history.\n\n"
    "Example: rft models list --env staging",
    no_args_is_help=True,
)


def registry_of(target: Environment) -> ModelRegistry:
    return ModelRegistry(target.client("ssm"), target.name)


@app.command("list")
@scoped
def list_models(*, scope: Scope) -> None:
    """The environment's trained models, their latest evaluation and the aliases pointing at them.

    Example: rft models list --env staging --json
    """
    registry = registry_of(scope.environment())
    aliases = registry.list_aliases()
    rows = [
        _Listed(
            record,
            registry.get_evaluation(record.name),
            sorted(alias for alias, entry in aliases.items() if entry.model == record.name),
        )
        for record in registry.list_models()
    ]
    if scope.json:
        models = [row.to_dict() for row in rows]
        print_json({"environment": registry.environment, "models": models, "aliases": _aliases_json(aliases)})
        return
    if not rows:
        say(f"No trained models in environment {shown(repr(registry.environment))} yet.")
        return
    columns = [
        Col("name", fold=True),
        Col("provider", drop=3),
        Col("base model", fold=True, drop=2),
        Col("reward", drop=4),
        Col("status"),
        Col("eval mean", justify="right"),
        Col("aliases", fold=True),
        Col("published", drop=1),
    ]
    cells = [
        [
            shown(row.record.name),
            row.record.provider,
            shown(row.record.base_model),
            shown(row.record.reward),
            row.record.status,
            f"{row.evaluation.mean_reward:.3f}" if row.evaluation else "-",
            shown(", ".join(row.aliases)) or "-",
            short_time(row.record.published_at),
        ]
        for row in rows
    ]
    console.print(fitted_table(columns, cells, console=console))


@dataclass(frozen=True)
class _Listed:
    """One model of `rft models list`: its record, latest evaluation and the aliases pointing at it."""

    record: ModelRecord
    evaluation: EvaluationSummary | None
    aliases: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "record": self.record.to_dict(),
            "evaluation": self.evaluation.to_dict() if self.evaluation else None,
            "aliases": self.aliases,
        }


def _aliases_json(aliases: dict[str, AliasEntry]) -> dict[str, Any]:
    return {alias: _entry_json(entry) for alias, entry in aliases.items()}


def _entry_json(entry: AliasEntry) -> dict[str, Any]:
    return {
        "alias": entry.alias,
        "model": entry.model,
        "previous": entry.previous,
        "by": entry.by,
        "modified_by": entry.modified_by,
        "at": entry.at,
        "reason": entry.reason,
        "forced": entry.forced,
        "version": entry.version,
    }


def caller_name(target: Environment) -> str:
    """Who is moving an alias: the caller's IAM identity, else the local user name."""
    try:
        return str(target.client("sts").get_caller_identity()["Arn"])
    except Exception:  # an identity is a courtesy for the history, never a reason to fail
        return getpass.getuser()


@app.command("promote")
@scoped
def promote(
    name: Annotated[str, typer.Argument(help="The trained model to put behind the alias.")],
    alias: Annotated[str, typer.Option("--alias", "-a", help="The alias to move (e.g. prod).")],
    force: Annotated[
        str | None,
        typer.Option(
            "--force",
            metavar="REASON",
            help="Move the alias even though the rule refuses; the reason is kept in the alias history.",
        ),
    ] = None,
    from_env: Annotated[
        str | None,
        typer.Option(
            "--from-env",
            help="Take NAME from this environment's account: share it, copy it into --env's account, "
            "deploy it there, then move the alias (Bedrock-plane models only).",
        ),
    ] = None,
    from_profile: FromProfileOption = None,
    from_region: FromRegionOption = None,
    *,
    scope: Scope,
) -> None:
    """Point an alias at a model, if its evaluation's mean reward is not below the current target's.

    NAME needs an evaluation ('rft eval NAME ...') with the same reward as the current target.
    With --from-env, NAME is a model of another environment (another account): it is copied into
    --env first, then judged by the same rule.

    \b
    Example: rft models promote gsm8k-v2 --alias prod --env staging
             rft models promote nova-v3 --alias prod --env prod \\
               --from-env staging --from-profile staging --profile prod
    """
    target = scope.environment()
    if from_env is not None:
        _promote_across(
            name, alias, force, environment(from_env, from_region, from_profile), target, scope.json
        )
        return
    entry = registry_of(target).promote(name, alias, by=caller_name(target), force_reason=force)
    if scope.json:
        print_json(_entry_json(entry))
        return
    _say_moved(entry, target)


def _promote_across(
    name: str, alias: str, force: str | None, source: Environment, target: Environment, json_output: bool
) -> None:
    from rft import model_copy

    progress = (lambda message: None) if json_output else (lambda message: say(shown(message)))
    moved = model_copy.promote_across(
        source,
        target,
        name,
        alias,
        by=caller_name(target),
        force_reason=force,
        polling=model_copy.Polling(progress=progress),
    )
    if json_output:
        print_json({**_entry_json(moved.entry), "record": moved.record.to_dict(), "reused": moved.reused})
        return
    if moved.reused:
        say(shown(f"{name!r} was already copied into {target.name!r}: {moved.record.model_id}."))
    else:
        say(shown(f"Copied {name!r} of {source.name!r} into {target.name!r}: {moved.record.model_id}."))
    _say_moved(moved.entry, target)


def _say_moved(entry: AliasEntry, target: Environment) -> None:
    moved = f"from {entry.previous!r} " if entry.previous else ""
    # The alias has moved: this line must not be able to fail (the reason is the caller's text).
    say(
        shown(
            f"Alias {entry.alias!r} now points at {entry.model!r} {moved}in environment {target.name!r}: "
            f"{entry.reason}."
        )
    )


@app.command("history")
@scoped
def history(
    alias: Annotated[str, typer.Argument(help="The alias whose moves to show.")],
    *,
    scope: Scope,
) -> None:
    """Who moved an alias, when, from which model to which, and why (newest first).

    Example: rft models history prod --env staging
    """
    registry = registry_of(scope.environment())
    entries = registry.alias_history(alias)
    if scope.json:
        print_json([_entry_json(entry) for entry in entries])
        return
    if not entries:
        say(shown(f"Alias {alias!r} has never been set in environment {registry.environment!r}."))
        return
    columns = [
        Col("version", justify="right", drop=4),
        Col("at"),
        Col("model", fold=True),
        Col("previous", fold=True, drop=2),
        Col("by", fold=True, drop=3),
        Col("reason", fold=True),
    ]
    cells = [
        [
            str(entry.version or ""),
            short_time(entry.at),
            shown(entry.model),
            shown(entry.previous or "-"),
            shown(entry.by or entry.modified_by or "-"),
            ("[red]forced[/] " if entry.forced else "") + shown(entry.reason),
        ]
        for entry in entries
    ]
    console.print(
        fitted_table(columns, cells, console=console, title=f"alias {shown(alias)}", title_justify="left")
    )


@app.command("delete")
@scoped
def delete(
    name: Annotated[str, typer.Argument(help="The trained model to delete (not an alias).")],
    yes: YesOption = False,
    *,
    scope: Scope,
) -> None:
    """Delete a trained model: what serves it (a Bedrock deployment), the model itself (Bedrock
    custom model or Mantle fine-tuned model) and its record. Refused while an alias points at it;
    asks first unless --yes. Running it again finishes a deletion that stopped half way.

    Example: rft models delete gsm8k-v1 --env staging
    """
    from rft import model_deletion

    target = scope.environment()
    registry = registry_of(target)
    record = registry.get_model(name)
    model_deletion.check_not_aliased(record, registry.list_aliases())
    parts = [f"{record.provider} model {record.model_id}"]
    if record.deployment_arn:
        parts.insert(0, f"deployment {record.deployment_arn}")
    confirm(
        f"Delete model {name!r} of environment {target.name!r} ({', '.join(parts)}, and its record)?",
        yes=yes,
    )
    deletion = model_deletion.Deletion(name)
    if record.provider == "mantle":
        from rft.cli.inference import mantle_openai

        model_deletion.delete_mantle_model(mantle_openai(target, record.base_url), record, deletion)
    else:
        model_deletion.delete_bedrock_model(target.client("bedrock"), record, deletion)
    registry.delete_model(name)
    deletion.deleted.append("record")
    if scope.json:
        print_json(deletion.to_dict())
        return
    gone = f" (already gone: {', '.join(deletion.already_gone)})" if deletion.already_gone else ""
    say(f"Deleted model {name!r} of environment {target.name!r}: {', '.join(deletion.deleted)}{gone}.")
