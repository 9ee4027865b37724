"""Two promoters racing for one alias: neither move is lost (rft.locks serialises them)."""

from __future__ import annotations

import threading

import boto3
import pytest
from moto import mock_aws

from rft.errors import PromotionRefusedError
from rft.locks import LockBusyError, ssm_lock
from rft.registry import ModelRegistry
from tests.unit.rft.test_registry import evaluation, model


@pytest.fixture
def ssm():
    with mock_aws():
        yield boto3.client("ssm", region_name="us-west-2")


def slow_decisions(monkeypatch, decided: threading.Event, delay: float = 0.5):
    """Every promotion pauses between reading the current target and moving the alias: the window
    in which, without a lock, a second promoter decides against the same old target."""
    check = ModelRegistry.check_promotion

    def check_then_pause(self, name, alias):
        decision = check(self, name, alias)
        decided.set()
        threading.Event().wait(delay)
        return decision

    monkeypatch.setattr(ModelRegistry, "check_promotion", check_then_pause)


def test_promote_race_the_second_promoter_is_judged_against_the_first_ones_move(ssm, monkeypatch):
    registry = ModelRegistry(ssm, "staging")
    for name, mean in (("m0", 0.50), ("m1", 0.80), ("m2", 0.60)):
        registry.put_model(model(name))
        registry.put_evaluation(evaluation(name, mean))
    registry.promote("m0", "prod", by="setup")
    decided = threading.Event()
    slow_decisions(monkeypatch, decided)
    outcome: dict[str, object] = {}

    def promote(name: str, who: str) -> None:
        try:
            outcome[who] = ModelRegistry(ssm, "staging").promote(name, "prod", by=who).model
        except PromotionRefusedError as exc:
            outcome[who] = exc

    first = threading.Thread(target=promote, args=("m1", "alice"))
    first.start()
    assert decided.wait(5)
    second = threading.Thread(target=promote, args=("m2", "bob"))  # better than m0, worse than m1
    second.start()
    first.join(10)
    second.join(10)

    assert outcome["alice"] == "m1"
    assert isinstance(outcome["bob"], PromotionRefusedError)
    assert "below 0.8000 of 'm1'" in str(outcome["bob"])
    assert registry.get_alias("prod").model == "m1"
    history = registry.alias_history("prod")
    assert [(e.model, e.previous) for e in history] == [("m1", "m0"), ("m0", None)]
    assert ssm.describe_parameters()["Parameters"] and all(
        "/locks/" not in p["Name"] for p in ssm.describe_parameters()["Parameters"]
    ), "the lock is released"


def test_promote_race_two_allowed_moves_chain_their_history(ssm, monkeypatch):
    registry = ModelRegistry(ssm, "staging")
    for name, mean in (("m0", 0.5), ("m1", 0.7), ("m2", 0.9)):
        registry.put_model(model(name))
        registry.put_evaluation(evaluation(name, mean))
    decided = threading.Event()
    slow_decisions(monkeypatch, decided, delay=0.3)
    threads = [
        threading.Thread(target=lambda n=n: ModelRegistry(ssm, "staging").promote(n, "prod", by=n))
        for n in ("m1", "m2")
    ]
    threads[0].start()
    assert decided.wait(5)
    threads[1].start()
    for thread in threads:
        thread.join(10)
    history = registry.alias_history("prod")
    # every move names the target it replaced: nothing was overwritten unseen
    assert [(e.model, e.previous) for e in history] == [("m2", "m1"), ("m1", None)]
    # and the second move was judged against the first one's target, not against "no target yet"
    assert history[0].reason == "promoted: mean reward 0.9000 of 'm2' is not below 0.7000 of 'm1'"


def test_lock_an_expired_lease_is_taken_over_and_a_live_one_waits(ssm):
    now = [1000.0]
    clock, sleep = (lambda: now[0]), (lambda s: now.__setitem__(0, now[0] + s))
    name = "/rft/staging/locks/aliases/prod"
    with ssm_lock(ssm, name, lease_seconds=30, clock=clock, sleep=sleep):
        # a second holder cannot get in while the lease lives...
        with (
            pytest.raises(LockBusyError, match="held by another writer"),
            ssm_lock(ssm, name, wait_seconds=5, clock=clock, sleep=sleep),
        ):
            pass
        # ...but takes over once the first holder's lease has run out (it crashed, say)
        now[0] += 60
        with ssm_lock(ssm, name, clock=clock, sleep=sleep):
            assert "holder" in ssm.get_parameter(Name=name)["Parameter"]["Value"]
    # the first holder's release does not delete the lock the second one took over and released
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=name)
