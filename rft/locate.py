"""Where an environment lives (its region and, when pinned, its account), so ``--env staging`` is
enough.

In a checkout of this project the answer is in ``cdk.json`` (context ``environments.<name>``: the
same settings ``make deploy`` uses); the checkout is found from the working directory upwards, else
beside the installed ``rft`` package (an editable install). Outside a checkout the deployed stacks
answer: every stack of an environment carries the tags ``project=rft-stack`` and
``environment=<name>`` (stacks/stage.py), so the regions are searched for the environment's data
stack once, and what was found is remembered in a small per-user file, so the search is not
repeated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rft import PROJECT
from rft.errors import RftError
from rft.names import DATA_STACK, stack_name

CDK_JSON = "cdk.json"
PROJECT_TAG = "project"
ENVIRONMENT_TAG = "environment"
DATA_STACK_SUFFIX = stack_name("", DATA_STACK)  # "<env>-Data": the stack every environment has
SEARCH_THREADS = 12
# The checkout an editable install runs from (None when the package is installed elsewhere).
PACKAGE_CHECKOUT: Path | None = Path(__file__).resolve().parent.parent


class UnknownEnvironmentError(RftError):
    """The environment is not defined in the checkout (or not deployed anywhere the search looked)."""


@dataclass(frozen=True)
class Location:
    """Where an environment is: region, the account when known, and what said so."""

    region: str
    account: str | None
    source: str  # "cdk.json (PATH)", "the deployed stacks", "remembered (PATH)"


# --- a checkout's cdk.json ----------------------------------------------------------------------


def find_cdk_json(start: Path | None = None) -> Path | None:
    """This project's cdk.json: from ``start`` (the working directory) upwards, else the checkout
    the package is installed from. A cdk.json of another project (no ``environments``) is skipped."""
    here = (start or Path.cwd()).resolve()
    candidates = [folder / CDK_JSON for folder in (here, *here.parents)]
    if PACKAGE_CHECKOUT is not None:
        candidates.append(PACKAGE_CHECKOUT / CDK_JSON)
    for candidate in candidates:
        if candidate.is_file() and _environments_of(candidate) is not None:
            return candidate
    return None


def _environments_of(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    environments = data.get("context", {}).get("environments") if isinstance(data, dict) else None
    return environments if isinstance(environments, dict) and environments else None


def from_checkout(name: str, cdk_json: Path) -> Location:
    """The region and account cdk.json gives environment ``name``; an unknown name lists those
    that exist."""
    environments = _environments_of(cdk_json) or {}
    settings = environments.get(name)
    if not isinstance(settings, dict):
        raise UnknownEnvironmentError(
            f"No environment {name!r} in {cdk_json}; it defines {quoted_names(environments)}."
        )
    region = settings.get("region")
    if not isinstance(region, str) or not region:
        raise RftError(f"{cdk_json}: environment {name!r} has no 'region' setting.")
    account = settings.get("account")
    return Location(region=region, account=str(account) if account else None, source=f"{cdk_json}")


def quoted_names(names: Iterable[str]) -> str:
    """``'prod' and 'staging'``: environment names as every message quotes them."""
    quoted = [f"{name!r}" for name in sorted(names)]
    if not quoted:
        return "no environments"
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


# --- remembered locations -----------------------------------------------------------------------


def memory_file() -> Path:
    """``$XDG_CONFIG_HOME/rft/environments.json`` (``~/.config`` by default)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "rft" / "environments.json"


def remembered(name: str, account: str | None) -> Location | None:
    """A location found earlier for this environment (and account, when known)."""
    path = memory_file()
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entry = entries.get(_memory_key(name, account)) if isinstance(entries, dict) else None
    if isinstance(entry, dict) and isinstance(entry.get("region"), str):
        return Location(region=entry["region"], account=entry.get("account"), source=f"remembered in {path}")
    return None


def remember(name: str, location: Location) -> None:
    """Keep a found location for next time; a file that cannot be written only costs a search."""
    path = memory_file()
    try:
        entries = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        if not isinstance(entries, dict):
            entries = {}
        entry = {"region": location.region, "account": location.account}
        entries[_memory_key(name, location.account)] = entry
        entries[_memory_key(name, None)] = entry
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except (OSError, ValueError):
        pass


def _memory_key(name: str, account: str | None) -> str:
    return f"{account or '*'}/{name}"


# --- the deployed stacks ------------------------------------------------------------------------

# (region) -> CloudFormation client for that region
ClientFor = Callable[[str], Any]


def search_regions(name: str, regions: Iterable[str], client_for: ClientFor) -> Location | None:
    """The region whose ``<name>-Data`` stack carries this project's tags, searched in parallel;
    regions the account has not enabled (or denies) are skipped."""
    regions = list(regions)
    with ThreadPoolExecutor(max_workers=SEARCH_THREADS) as pool:
        found = list(pool.map(lambda region: _tagged_stack(name, region, client_for), regions))
    for region, stack in zip(regions, found, strict=True):
        if stack is not None:
            return Location(region=region, account=_account_of(stack), source="the deployed stacks")
    return None


def _tagged_stack(name: str, region: str, client_for: ClientFor) -> dict[str, Any] | None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = client_for(region).describe_stacks(StackName=f"{name}{DATA_STACK_SUFFIX}")["Stacks"]
    except (ClientError, BotoCoreError):  # not there, region not enabled, no access: not found here
        return None
    for stack in stacks:
        tags = {tag.get("Key"): tag.get("Value") for tag in stack.get("Tags", [])}
        if tags.get(PROJECT_TAG) == PROJECT and tags.get(ENVIRONMENT_TAG) == name:
            found: dict[str, Any] = stack
            return found
    return None


def _account_of(stack: dict[str, Any]) -> str | None:
    parts = str(stack.get("StackId", "")).split(":")  # arn:aws:cloudformation:REGION:ACCOUNT:stack/...
    return parts[4] if len(parts) > 4 and parts[4] else None


def deployed_environments(cloudformation: Any) -> list[str]:
    """The names of the environments deployed in one region (from their data stacks' tags)."""
    names: set[str] = set()
    for page in cloudformation.get_paginator("describe_stacks").paginate():
        for stack in page.get("Stacks", []):
            tags = {tag.get("Key"): tag.get("Value") for tag in stack.get("Tags", [])}
            if tags.get(PROJECT_TAG) == PROJECT and str(stack.get("StackName", "")).endswith(
                DATA_STACK_SUFFIX
            ):
                names.add(str(tags.get(ENVIRONMENT_TAG) or stack["StackName"][: -len(DATA_STACK_SUFFIX)]))
    return sorted(names)
