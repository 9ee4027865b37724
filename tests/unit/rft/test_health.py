"""The training health guard on runs of our own making.

Healthy series follow the published healthy run (GSM8K on gpt-oss-20b: mean reward 0.56 → 0.85-0.97
in 67 steps, response length falling, entropy 0.8-1.1); the unhealthy ones are the failure modes the
AWS best-practices guidance names. Every failing run must be caught early enough to save most of its
cost, and a healthy one (slow or noisy too) must be `healthy` at every step: the guard runs at every
look, so a false alarm at any prefix is a false alarm.
"""

from __future__ import annotations

import math
import random
import string

import pytest

from rft.health import ADVICE, Code, Finding, GuardSettings, Verdict, assess

STEPS = 100


def run(
    reward,
    *,
    length=lambda t: 600 - 200 * t,
    entropy=lambda t: 1.0 - 0.15 * t,
    grad=lambda t: 0.3,
    noise=0.02,
    seed=0,
    steps=STEPS,
    validation=None,
):
    """A run's metrics events: each metric a function of progress t ∈ [0, 1], plus seeded noise."""
    rng = random.Random(seed)
    out = []
    for step in range(1, steps + 1):
        t = (step - 1) / (steps - 1)
        event = {
            "step": step,
            "total_steps": steps,
            "critic_rewards_mean": min(1.0, max(0.0, reward(t) + rng.gauss(0, noise))),
            "response_length_mean": max(1.0, length(t) * (1 + rng.gauss(0, noise))),
            "actor_entropy": max(0.0, entropy(t) * (1 + rng.gauss(0, noise))),
            "actor_grad_norm": grad(t) * math.exp(rng.gauss(0, 0.3)),
            "actor_pg_loss": rng.gauss(0, 0.05),
        }
        if validation is not None and step % 10 == 0:
            event["val_rewards_mean"] = validation(t)
        out.append(event)
    return out


def published(t):
    """Mean reward of the published healthy run: a quick rise from 0.56 that levels off near 0.9."""
    return 0.56 + 0.35 * (1 - math.exp(-5 * t))


def verdicts_over_time(events, settings=None):
    """The verdict at every look (the watch step sees prefixes of the series)."""
    return [assess(events[:n], settings) for n in range(1, len(events) + 1)]


def first_step_with(events, code, settings=None):
    for n in range(1, len(events) + 1):
        if any(f.code == code for f in assess(events[:n], settings).findings):
            return n
    return None


HEALTHY = {
    "published": dict(reward=published),
    "slow learner": dict(reward=lambda t: 0.30 + 0.15 * t),
    "noisy": dict(reward=published, noise=0.08),
    "noisy slow learner": dict(reward=lambda t: 0.20 + 0.25 * t, noise=0.06),
    "long answers that shorten": dict(reward=published, length=lambda t: 3000 - 1500 * t),
    "entropy drifting down": dict(reward=published, entropy=lambda t: 1.1 - 0.5 * t),
    "with validation": dict(reward=published, validation=lambda t: 0.5 + 0.3 * t),
}


@pytest.mark.parametrize("name", HEALTHY)
@pytest.mark.parametrize("seed", range(5))
def test_health_healthy_runs_are_healthy_at_every_look(name, seed):
    events = run(seed=seed, **HEALTHY[name])
    for assessment in verdicts_over_time(events):
        assert assessment.verdict is Verdict.HEALTHY, (name, seed, assessment.to_dict())


UNHEALTHY = {
    # (series, expected code, expected verdict, must be seen by this fraction of the run)
    "broken grader": (dict(reward=lambda t: 0.0, noise=0.0), Code.REWARD_ZERO, Verdict.STOP, 0.15),
    "reward crash": (
        dict(reward=lambda t: published(t) if t < 0.4 else max(0.05, published(0.4) - 3 * (t - 0.4))),
        Code.REWARD_CRASH,
        Verdict.STOP,
        0.6,
    ),
    "entropy collapse": (
        dict(reward=published, entropy=lambda t: max(0.02, 1.0 - 3 * t)),
        Code.ENTROPY_COLLAPSE,
        Verdict.STOP,
        0.4,
    ),
    "length explodes while reward climbs": (
        dict(reward=lambda t: 0.4 + 0.5 * t, length=lambda t: 500 * (1 + 6 * t)),
        Code.LENGTH_GROWTH,
        Verdict.WARN,
        0.3,
    ),
    "no learning": (dict(reward=lambda t: 0.42), Code.NO_LEARNING, Verdict.WARN, 0.35),
    "grader too easy": (dict(reward=lambda t: 0.98, noise=0.005), Code.REWARD_SATURATED, Verdict.WARN, 0.1),
    "gradient spikes": (
        dict(reward=published, grad=lambda t: 40.0 if abs(t - 0.3) < 0.006 else 0.3),
        Code.GRAD_NORM_SPIKE,
        Verdict.WARN,
        0.35,
    ),
    "validation falls while training climbs": (
        dict(reward=published, validation=lambda t: 0.7 - 0.4 * t),
        Code.VALIDATION_DIVERGENCE,
        Verdict.WARN,
        0.6,
    ),
}


@pytest.mark.parametrize("name", UNHEALTHY)
def test_health_unhealthy_runs_are_caught_early(name):
    series, code, verdict, by_fraction = UNHEALTHY[name]
    events = run(**series)
    first = first_step_with(events, code)
    assert first is not None, f"{name}: never flagged {code}"
    assert first <= by_fraction * STEPS, f"{name}: {code} first flagged at step {first}"
    final = assess(events)
    assert final.verdict is verdict, final.to_dict()
    finding = next(f for f in final.findings if f.code == code)
    assert any(ch.isdigit() for ch in finding.message), "a finding names its numbers"


def test_health_zero_reward_stops_at_the_minimum_steps():
    events = run(reward=lambda t: 0.0, noise=0.0)
    assert assess(events[:9]).verdict is Verdict.HEALTHY
    stopped = assess(events[:10])
    assert stopped.verdict is Verdict.STOP
    assert [f.code for f in stopped.findings] == [Code.REWARD_ZERO]
    assert "10 steps" in stopped.cause() and "reward_zero" in stopped.cause()


def test_health_one_bad_step_is_not_an_alarm():
    events = run(reward=published)
    events[40]["critic_rewards_mean"] = 0.0
    events[41]["actor_entropy"] = 0.0
    assert assess(events).verdict is Verdict.HEALTHY


def test_health_stop_on_is_a_setting():
    events = run(reward=lambda t: 0.0, noise=0.0)
    assert assess(events, GuardSettings(stop_on=())).verdict is Verdict.WARN
    length = run(reward=lambda t: 0.4 + 0.5 * t, length=lambda t: 500 * (1 + 6 * t))
    assert assess(length, GuardSettings(stop_on=(Code.LENGTH_GROWTH,))).verdict is Verdict.STOP


def test_health_stopping_findings_come_first():
    events = run(reward=lambda t: 0.0, noise=0.0, grad=lambda t: 50.0 if 0.2 < t < 0.21 else 0.3)
    findings = assess(events).findings
    assert findings[0].code == Code.REWARD_ZERO
    assert Code.GRAD_NORM_SPIKE in [f.code for f in findings]


def test_health_tolerates_what_a_service_might_send():
    events = [
        {"step": 3, "critic_rewards_mean": "0.5"},
        {"step": True, "critic_rewards_mean": 0.1},
        {"step": float("nan")},
        "not a mapping",
        {"step": 1, "critic_rewards_mean": float("inf"), "actor_entropy": None},
        {"step": 2, "critic_rewards_mean": 0.5},
        {"step": 2, "critic_rewards_mean": 0.6},  # the later report of a step wins
    ]
    assessment = assess(events)
    assert assessment.verdict is Verdict.HEALTHY
    assert assessment.steps == 3  # steps 1, 2 and 3; the bool and NaN steps are not steps
    assert assess([]).to_dict() == {"verdict": "healthy", "steps": 0, "findings": []}


def test_health_order_of_events_does_not_matter():
    events = run(reward=lambda t: 0.0, noise=0.0)
    shuffled = list(events)
    random.Random(1).shuffle(shuffled)
    assert assess(shuffled).to_dict() == assess(events).to_dict()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"window": 1}, "window: must be a whole number of steps, at least 2"),
        ({"zero_reward": 2}, "zero_reward: must be between 0 and 1"),
        ({"grad_spike_factor": 0.5}, "grad_spike_factor: must be greater than 1"),
        ({"crash_min_drop": float("nan")}, "crash_min_drop: must be a finite number"),
        ({"stop_on": ["reward_zeroo"]}, "unknown finding code(s) ['reward_zeroo']"),
        ({"windoww": 3}, "Unknown guard setting(s): windoww"),
    ],
)
def test_health_settings_are_validated(values, message):
    with pytest.raises(ValueError) as caught:
        GuardSettings.from_mapping(values)
    assert message in str(caught.value)


def test_health_settings_round_trip():
    settings = GuardSettings(window=7, stop_on=(Code.REWARD_ZERO,))
    assert GuardSettings.from_mapping(settings.to_mapping()) == settings


def test_every_finding_code_has_advice_and_a_finding_fills_in_its_figures():
    assert set(ADVICE) == set(Code)
    for code, advice in ADVICE.items():
        figures = {name for _, name, _, _ in string.Formatter().parse(advice) if name}
        assert figures, f"{code}: advice names no figure"
        finding = Finding.of(code, 7, **dict.fromkeys(figures, 0.5))
        assert finding.step == 7 and "{" not in finding.message
    with pytest.raises(KeyError):  # a check that forgets a figure fails loudly, not with a blank
        Finding.of(Code.REWARD_CRASH, 1, first=0.1)
