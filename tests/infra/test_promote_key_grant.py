"""`promote_to`: the source environment's data key lets each target account copy its custom models,
only through Bedrock, and nothing else changes without the setting."""

from __future__ import annotations

import aws_cdk as cdk
import pytest

from app import build_app
from stacks.config import ConfigError, load_environments, promotion_accounts
from stacks.stage import RftStage
from tests.infra.helpers import cdk_context, new_app, template

PROD, QA = "333333333333", "444444444444"


def environments(**staging_overrides) -> dict:
    raw = cdk_context()["environments"]
    raw["prod"]["account"] = PROD
    raw["qa"] = {**raw["prod"], "account": QA}
    raw["staging"].update(staging_overrides)
    return raw


def key_statements(promote_to: dict[str, str]) -> list[dict]:
    settings = load_environments(environments())["staging"]
    stage = RftStage(
        new_app(),
        "staging",
        settings=settings,
        env=cdk.Environment(region=settings.region),
        promote_to=promote_to,
    )
    return policy_of(stage)


def policy_of(stage: RftStage) -> list[dict]:
    (key,) = template(stage.data).find_resources("AWS::KMS::Key").values()
    return key["Properties"]["KeyPolicy"]["Statement"]


def cross_account(statements: list[dict], own: str | None = None) -> list[dict]:
    """Statements whose principal is an account other than the key's own (whatever their Sid); the
    own account is a reference when the stage has none set, else `own`."""
    return [
        s
        for s in statements
        if "AWS" in s.get("Principal", {})
        and "AWS::AccountId" not in str(s["Principal"]["AWS"])
        and s["Principal"]["AWS"] != (own and root_of(own))
    ]


def root_of(account: str) -> str:
    # The region is known (us-west-2), so CDK writes its partition as a literal.
    return f"arn:aws:iam::{account}:root"


def test_promote_to_grants_each_target_account_the_key_through_bedrock_only():
    statements = cross_account(key_statements({"prod": PROD, "qa": QA}))
    through_bedrock = {"kms:ViaService": "bedrock.us-west-2.amazonaws.com"}
    by_account: dict[str, set[str]] = {}
    for statement in statements:
        principal = statement["Principal"]["AWS"]
        account = next(a for a in (PROD, QA) if principal == root_of(a))
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        by_account.setdefault(account, set()).update(actions)
        assert statement["Effect"] == "Allow" and statement["Resource"] == "*"
        assert statement["Condition"]["StringEquals"] == through_bedrock
        if "kms:CreateGrant" in actions:
            assert actions == ["kms:CreateGrant"]
            assert statement["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    assert by_account == {a: {"kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"} for a in (PROD, QA)}


def test_without_promote_to_the_key_policy_names_no_other_account():
    statements = key_statements({})
    assert cross_account(statements) == []
    assert "kms:ViaService" not in str(statements)


def test_synth_grants_the_accounts_that_cdk_json_promotes_to():
    raw = environments(promote_to=["prod"])
    stages = build_app(cdk.App(context={**cdk_context(), "environments": raw, "aws:cdk:bundling-stacks": []}))
    assert promotion_accounts("staging", load_environments(raw)) == {"prod": PROD}
    granted = {s["Principal"]["AWS"] for s in cross_account(policy_of(stages["staging"]))}
    assert granted == {root_of(PROD)}
    assert cross_account(policy_of(stages["prod"]), own=PROD) == []


def test_cdk_json_as_shipped_promotes_nowhere():
    assert all(not env.promote_to for env in load_environments(cdk_context()["environments"]).values())


@pytest.mark.parametrize(
    ("promote_to", "setting", "fragment"),
    [
        ("prod", "promote_to", "must be a list"),
        ([7], "promote_to[0]", "must be str"),
        (["prod", "prod"], "promote_to", "each once"),
        (["prod", "prd"], "promote_to[1]", "unknown environment 'prd'; cdk.json defines: staging, prod"),
        (["staging"], "promote_to[0]", "cannot promote to itself"),
    ],
)
def test_a_wrong_promote_to_fails_synth_naming_it(promote_to, setting, fragment):
    with pytest.raises(ConfigError) as caught:
        load_environments(environments(promote_to=promote_to))
    assert (caught.value.environment, caught.value.setting) == ("staging", setting)
    assert fragment in str(caught.value)


def test_promote_to_an_environment_without_an_account_or_in_the_same_account_is_refused():
    raw = environments(promote_to=["prod"])
    del raw["prod"]["account"]
    with pytest.raises(ConfigError, match=r"'promote_to\[0\]': environment 'prod' sets no account"):
        load_environments(raw)
    with pytest.raises(
        ConfigError, match=rf"'promote_to\[0\]': 'prod' is in this environment's own account {PROD}"
    ):
        load_environments(environments(promote_to=["prod"], account=PROD))


def test_the_statement_ids_spell_the_target_environment_as_a_sid_may():
    sids = sorted(s["Sid"] for s in cross_account(key_statements({"prod-eu": PROD})))
    assert sids == [
        "PromoteToProdEuLetsBedrockUseTheKeyForTheCopy",
        "PromoteToProdEuReadsCustomModelsThroughBedrock",
    ]
