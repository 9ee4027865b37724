"""The training health guard: is a run learning, or should it be stopped before it is billed in full?

``assess(steps)`` reads the per-step metrics a run has reported so far, each step a mapping named as
Mantle's job events name them (``step``, ``critic_rewards_mean``, ``actor_entropy``,
``actor_grad_norm``, ``response_length_mean``, ``actor_pg_loss``, a validation reward when present),
and answers a verdict with the findings behind it. The workflow's watch step, ``rft train watch`` and
``rft train report`` all call it, so a run is judged by one rule wherever it is looked at.

The failure modes are the ones the AWS RFT best-practices guidance names (mean reward, response
length, policy entropy, gradient norm, validation reward). Every comparison is between *windowed
means* (``window`` consecutive steps), never single steps: one noisy step must not raise an alarm,
because an alarm that cries wolf teaches people to ignore it. The defaults, and why, are in the
README ("The training health guard"); they are deliberately loose against the published healthy run
(GSM8K on gpt-oss-20b: reward 0.56 → 0.85-0.97 in 67 steps, length falling, entropy 0.8-1.1).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from statistics import fmean, median
from typing import Any

# The validation reward's name in the job's events is unconfirmed: the guard takes the first of
# the names in rft.assumptions.VALIDATION_REWARD_METRICS that a step carries.
from rft.assumptions import VALIDATION_REWARD_METRICS

REWARD = "critic_rewards_mean"
ENTROPY = "actor_entropy"
GRAD_NORM = "actor_grad_norm"
LENGTH = "response_length_mean"


class Verdict(StrEnum):
    HEALTHY = "healthy"
    WARN = "warn"
    STOP = "stop"


class Code(StrEnum):
    """Stable finding codes: notifications are sent once per code, settings name them."""

    REWARD_ZERO = "reward_zero"
    REWARD_SATURATED = "reward_saturated"
    NO_LEARNING = "no_learning"
    REWARD_CRASH = "reward_crash"
    LENGTH_GROWTH = "length_growth"
    ENTROPY_COLLAPSE = "entropy_collapse"
    GRAD_NORM_SPIKE = "grad_norm_spike"
    VALIDATION_DIVERGENCE = "validation_divergence"


@dataclass(frozen=True)
class GuardSettings:
    """Thresholds of the guard. The README justifies each default; an environment overrides them
    under ``training.guard`` in cdk.json."""

    # Consecutive steps averaged before any comparison.
    window: int = 5
    # Reward "stays essentially zero": at least this many steps, every windowed mean at most
    # `zero_reward`. GRPO learns nothing when every rollout of a group scores the same.
    zero_min_steps: int = 10
    zero_reward: float = 0.02
    # The first window already scores this much: the grader is too easy, there is nothing to learn.
    saturated_reward: float = 0.95
    # No learning: after this many steps the best windowed mean is less than `flat_min_gain`
    # above the first window.
    flat_min_steps: int = 30
    flat_min_gain: float = 0.03
    # A crash: the reward rose by at least `crash_min_rise`, then the latest window fell at least
    # `crash_min_drop` below the best window and gave back `crash_fraction` of the rise.
    crash_min_rise: float = 0.10
    crash_min_drop: float = 0.15
    crash_fraction: float = 0.5
    # Reward hacking by length: response length grew by this factor while the reward rose at least
    # `length_min_reward_gain`.
    length_growth_factor: float = 2.0
    length_min_reward_gain: float = 0.05
    # Entropy collapse: the latest window's entropy below this fraction of the first window's.
    entropy_collapse_fraction: float = 0.2
    # A gradient-norm spike: one step this many times the median of the steps before it.
    grad_spike_factor: float = 10.0
    # Validation reward fell this far below its best while the training reward did not fall.
    validation_drop: float = 0.10
    # The findings that stop a run (the others warn). Reward that never leaves zero or crashes
    # after rising, and a collapsed policy, do not recover by training longer.
    stop_on: tuple[str, ...] = (Code.REWARD_ZERO, Code.REWARD_CRASH, Code.ENTROPY_COLLAPSE)

    def __post_init__(self) -> None:
        problems = [
            f"{f.name}: {why}"
            for f in fields(self)
            if (why := _setting_problem(f.name, getattr(self, f.name)))
        ]
        if problems:
            raise ValueError("Invalid guard settings: " + "; ".join(problems))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> GuardSettings:
        """Settings from a JSON object (cdk.json, the workflow's input); unknown keys are refused."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"Unknown guard setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        if "stop_on" in values:
            values["stop_on"] = tuple(values["stop_on"])
        return cls(**values)

    def to_mapping(self) -> dict[str, Any]:
        return {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)
        }


def _setting_problem(name: str, value: Any) -> str | None:
    if name == "stop_on":
        if not isinstance(value, tuple) or not all(isinstance(code, str) for code in value):
            return "must be a list of finding codes"
        unknown = [code for code in value if code not in Code.__members__.values()]
        return f"unknown finding code(s) {unknown}; known: {[c.value for c in Code]}" if unknown else None
    if name in ("window", "zero_min_steps", "flat_min_steps"):
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 2
        return None if ok else "must be a whole number of steps, at least 2"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "must be a finite number"
    if name in ("length_growth_factor", "grad_spike_factor"):
        return None if value > 1 else "must be greater than 1"
    return None if 0 <= value <= 1 else "must be between 0 and 1"


# What each finding tells the person watching the run: the figures behind it and what to do.
# `Finding.of` fills in the figures its check measured.
ADVICE: Mapping[Code, str] = {
    Code.REWARD_ZERO: (
        "mean reward has stayed at or below {zero_reward:g} for {steps} steps "
        "(best {window}-step mean {best:.3f}): no rollout earns reward, so nothing is learned. "
        "Check the grader with `rft reward test` on real samples, and the dataset's reference answers."
    ),
    Code.REWARD_SATURATED: (
        "mean reward is already {first:.3f} over the first {window} steps (≥ {saturated_reward:g}): "
        "the grader is too easy or the model already solves the task, so there is little to learn."
    ),
    Code.NO_LEARNING: (
        "mean reward has not improved in {steps} steps: first {window}-step mean {first:.3f}, "
        "best {best:.3f} (gain {gain:+.3f} < {min_gain:g}). "
        "Consider a higher learning rate, more rollouts per prompt, or easier prompts."
    ),
    Code.REWARD_CRASH: (
        "mean reward rose from {first:.3f} to {peak:.3f} (step {peak_step}) and fell back to {now:.3f} "
        "by step {now_step}: training has become unstable; the checkpoint near step {peak_step} "
        "was better. Lower the learning rate."
    ),
    Code.LENGTH_GROWTH: (
        "response length grew from {first:.0f} to {now:.0f} tokens "
        "(x{factor:.1f}) while mean reward rose {gain:+.3f}: the model may be gaming "
        "the grader (padding, hedging, several answers). Read samples with `rft reward test`."
    ),
    Code.ENTROPY_COLLAPSE: (
        "policy entropy fell from {first:.3f} to {now:.3f} ({share:.0%} of its start): the model "
        "has collapsed onto a few answers and stopped exploring. Lower the learning rate."
    ),
    Code.GRAD_NORM_SPIKE: (
        "gradient norm spiked {count} time(s), latest {value:.3g} at step {step} "
        "(x{factor:.0f} the median {typical:.3g} before it): updates are unstable. "
        "Lower the learning rate if it repeats."
    ),
    Code.VALIDATION_DIVERGENCE: (
        "validation reward fell from {best:.3f} (step {best_step}) to {now:.3f} (step {now_step}) "
        "while the training reward did not fall ({train_now:.3f} now): the model is fitting the "
        "training prompts or the grader, not the task."
    ),
}


@dataclass(frozen=True)
class Finding:
    code: Code
    message: str
    step: int  # the step at which the guard saw it

    @classmethod
    def of(cls, code: Code, at_step: int, /, **figures: float) -> Finding:
        """The finding `code` at `at_step`, its advice filled in with the figures its check measured."""
        return cls(code, ADVICE[code].format(**figures), at_step)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message, "step": self.step}


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    findings: tuple[Finding, ...] = field(default=())
    steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "steps": self.steps,
            "findings": [finding.to_dict() for finding in self.findings],
        }

    def cause(self) -> str:
        """One paragraph naming every finding: the failure cause of a stopped run."""
        return " ".join(f"[{f.code.value}] {f.message}" for f in self.findings)


@dataclass(frozen=True)
class _Series:
    """One metric over the steps that reported it: (step, value) pairs in step order."""

    points: tuple[tuple[int, float], ...]

    @property
    def values(self) -> list[float]:
        return [value for _, value in self.points]

    def __len__(self) -> int:
        return len(self.points)

    def windows(self, width: int) -> list[tuple[int, float]]:
        """Rolling means: (the window's last step, its mean), one per full window."""
        values = self.values
        if len(values) < width:
            return []
        total = sum(values[:width])
        out = [(self.points[width - 1][0], total / width)]
        for i in range(width, len(values)):
            total += values[i] - values[i - width]
            out.append((self.points[i][0], total / width))
        return out


def assess(steps: Iterable[Mapping[str, Any]], settings: GuardSettings | None = None) -> Assessment:
    """Judge a run from its per-step metrics so far (in any order; a repeated step keeps the last)."""
    settings = settings or GuardSettings()
    table = _by_step(steps)
    if not table:
        return Assessment(Verdict.HEALTHY)
    series = {name: _series(table, (name,)) for name in (REWARD, ENTROPY, GRAD_NORM, LENGTH)}
    validation = _series(table, VALIDATION_REWARD_METRICS)
    findings = [
        finding
        for check in (_reward_zero_or_flat, _reward_crash, _length_growth, _entropy_collapse, _grad_spike)
        if (finding := check(series, settings)) is not None
    ]
    if (finding := _validation_divergence(series[REWARD], validation, settings)) is not None:
        findings.append(finding)
    stop = {Code(code) for code in settings.stop_on}
    if any(f.code in stop for f in findings):
        verdict = Verdict.STOP
    elif findings:
        verdict = Verdict.WARN
    else:
        verdict = Verdict.HEALTHY
    ordered = sorted(findings, key=lambda f: (f.code not in stop, f.step))
    return Assessment(verdict, tuple(ordered), steps=len(table))


def _by_step(steps: Iterable[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    table: dict[int, Mapping[str, Any]] = {}
    for entry in steps:
        if not isinstance(entry, Mapping):
            continue
        step = entry.get("step")
        if isinstance(step, bool) or not isinstance(step, int | float) or not math.isfinite(step):
            continue
        table[int(step)] = entry
    return dict(sorted(table.items()))


def _series(table: Mapping[int, Mapping[str, Any]], names: Sequence[str]) -> _Series:
    points = []
    for step, entry in table.items():
        for name in names:
            value = entry.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                points.append((step, float(value)))
                break
    return _Series(tuple(points))


def _reward_zero_or_flat(series: Mapping[str, _Series], s: GuardSettings) -> Finding | None:
    """Zero reward, saturated reward and no learning exclude each other: at most one is reported."""
    reward = series[REWARD]
    windows = reward.windows(s.window)
    if not windows:
        return None
    last_step = reward.points[-1][0]
    first, best = windows[0][1], max(mean for _, mean in windows)
    steps, window = len(reward), s.window
    if steps >= s.zero_min_steps and best <= s.zero_reward:
        return Finding.of(
            Code.REWARD_ZERO, last_step, zero_reward=s.zero_reward, steps=steps, window=window, best=best
        )
    if first >= s.saturated_reward:
        saturated = s.saturated_reward
        return Finding.of(
            Code.REWARD_SATURATED, windows[0][0], first=first, window=window, saturated_reward=saturated
        )
    if steps >= s.flat_min_steps and best - first < s.flat_min_gain:
        gain, min_gain = best - first, s.flat_min_gain
        figures = {"steps": steps, "window": window, "first": first, "best": best, "min_gain": min_gain}
        return Finding.of(Code.NO_LEARNING, last_step, gain=gain, **figures)
    return None


def _first_and_latest(series: _Series, width: int) -> tuple[float, int, float] | None:
    """The first window's mean, and the latest window's last step and mean; None before two windows."""
    windows = series.windows(width)
    if len(windows) < 2:
        return None
    return windows[0][1], windows[-1][0], windows[-1][1]


def _reward_crash(series: Mapping[str, _Series], s: GuardSettings) -> Finding | None:
    windows = series[REWARD].windows(s.window)
    if len(windows) < 2:
        return None
    first = windows[0][1]
    peak_step, peak = max(windows, key=lambda w: w[1])
    now_step, now = windows[-1]
    rise, drop = peak - first, peak - now
    if rise >= s.crash_min_rise and drop >= s.crash_min_drop and drop >= s.crash_fraction * rise:
        figures = {"first": first, "peak": peak, "peak_step": peak_step, "now": now, "now_step": now_step}
        return Finding.of(Code.REWARD_CRASH, now_step, **figures)
    return None


def _length_growth(series: Mapping[str, _Series], s: GuardSettings) -> Finding | None:
    length, reward = _first_and_latest(series[LENGTH], s.window), _first_and_latest(series[REWARD], s.window)
    if length is None or reward is None:
        return None
    length_first, now_step, length_now = length
    gain = reward[2] - reward[0]
    if (
        length_first > 0
        and length_now >= s.length_growth_factor * length_first
        and gain >= s.length_min_reward_gain
    ):
        factor = length_now / length_first
        return Finding.of(
            Code.LENGTH_GROWTH, now_step, first=length_first, now=length_now, factor=factor, gain=gain
        )
    return None


def _entropy_collapse(series: Mapping[str, _Series], s: GuardSettings) -> Finding | None:
    ends = _first_and_latest(series[ENTROPY], s.window)
    if ends is None:
        return None
    first, now_step, now = ends
    if first > 0 and now < s.entropy_collapse_fraction * first:
        return Finding.of(Code.ENTROPY_COLLAPSE, now_step, first=first, now=now, share=now / first)
    return None


def _grad_spike(series: Mapping[str, _Series], s: GuardSettings) -> Finding | None:
    points = series[GRAD_NORM].points
    spikes = []
    for i in range(s.window, len(points)):
        typical = median(value for _, value in points[:i])
        if typical > 0 and points[i][1] >= s.grad_spike_factor * typical:
            spikes.append((points[i][0], points[i][1], typical))
    if not spikes:
        return None
    step, value, typical = spikes[-1]
    factor = value / typical
    return Finding.of(
        Code.GRAD_NORM_SPIKE, step, count=len(spikes), value=value, step=step, factor=factor, typical=typical
    )


def _validation_divergence(reward: _Series, validation: _Series, s: GuardSettings) -> Finding | None:
    if len(validation) < 3 or len(reward) < s.window:
        return None
    best_step, best = max(validation.points, key=lambda p: p[1])
    now_step, now = validation.points[-1]
    before_best = [value for step, value in reward.points if step <= best_step][-s.window :]
    train_now = fmean(reward.values[-s.window :])
    if best - now >= s.validation_drop and (not before_best or train_now >= fmean(before_best)):
        figures = {"best": best, "best_step": best_step, "now": now, "now_step": now_step}
        return Finding.of(Code.VALIDATION_DIVERGENCE, now_step, train_now=train_now, **figures)
    return None
