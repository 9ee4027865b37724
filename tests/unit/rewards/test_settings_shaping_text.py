"""Settings (environment + per-sample overrides), shaping terms, and the Unicode policy."""

from __future__ import annotations

import pytest

from lambda_rewards.common.settings import (
    ConfigError,
    RewardSettings,
    env_bool,
    env_float,
    env_int,
    load_settings,
    with_overrides,
)
from lambda_rewards.common.shaping import (
    FORMAT_CHECKERS,
    length_of,
    overlong_term,
    shape,
)
from lambda_rewards.common.text import braced_group, find_boxes, normalize_unicode, tail

# --------------------------------------------------------------------------- settings


def test_defaults_then_grader_defaults_then_environment():
    assert load_settings(environ={}).sample_timeout_s == 2.0
    assert load_settings({"sample_timeout_s": 5}, environ={}).sample_timeout_s == 5.0
    settings = load_settings({"sample_timeout_s": 5}, environ={"REWARD_SAMPLE_TIMEOUT_S": "0.5"})
    assert settings.sample_timeout_s == 0.5


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REWARD_SAMPLE_TIMEOUT_S", "soon"),
        ("REWARD_SAMPLE_TIMEOUT_S", "-1"),
        ("REWARD_SAMPLE_TIMEOUT_S", "nan"),
        ("REWARD_FORMAT", "think,xml"),
        ("REWARD_FORMAT_GATE", "maybe"),
        ("REWARD_OVERLONG_MAX", "4000.5"),
        ("REWARD_LENGTH_UNIT", "bytes"),
        ("REWARD_WEIGHT_CORRECTNESS", "-0.5"),
        ("REWARD_WORKER_MEMORY_MB", "1"),
    ],
)
def test_a_bad_variable_is_named_in_the_error(variable, value):
    with pytest.raises(ConfigError, match=variable):
        load_settings(environ={variable: value})


def test_weights_summing_to_zero_are_refused():
    with pytest.raises(ConfigError, match="sum to 0"):
        load_settings(environ={"REWARD_WEIGHT_CORRECTNESS": "0"})


def test_overlong_cache_larger_than_max_is_refused():
    with pytest.raises(ConfigError, match="overlong_cache"):
        load_settings(environ={"REWARD_OVERLONG_MAX": "100", "REWARD_OVERLONG_CACHE": "200"})


def test_overrides_name_the_key_and_cannot_touch_budgets():
    base = load_settings(environ={})
    assert with_overrides(base, {"format": "think", "weight_format": 0.5}).format == ("think",)
    with pytest.raises(ConfigError, match=r"metadata\.reward_config\.sample_timeout_s"):
        with_overrides(base, {"sample_timeout_s": 100})
    with pytest.raises(ConfigError, match=r"metadata\.reward_config\.overlong_max"):
        with_overrides(base, {"overlong_max": "long"})
    with pytest.raises(ConfigError, match="must be an object"):
        with_overrides(base, "think")
    assert with_overrides(base, None) is base
    assert (
        with_overrides(
            load_settings(environ={"REWARD_OVERLONG_MAX": "10"}), {"overlong_max": None}
        ).overlong_max
        is None
    )


def test_env_helpers_name_their_variable():
    assert env_int("X_INT", 3, environ={}) == 3
    assert env_float("X_F", 1.5, environ={"X_F": " 2.5 "}) == 2.5
    assert env_bool("X_B", False, environ={"X_B": "yes"}) is True
    with pytest.raises(ConfigError, match="X_INT must be <= 10"):
        env_int("X_INT", 3, maximum=10, environ={"X_INT": "11"})
    with pytest.raises(ConfigError, match="X_B"):
        env_bool("X_B", False, environ={"X_B": "perhaps"})


# --------------------------------------------------------------------------- shaping


# Each format check, by the name the settings give it (shaping.FORMAT_CHECKERS), on texts it
# must accept and texts it must refuse.
@pytest.mark.parametrize(
    ("check", "text", "ok"),
    [
        ("think", "<think>reasoning</think>\nThe answer is 4.", True),
        ("think", "  <think>r</think>4", True),
        ("think", "<think>r</think>", False),  # no answer after the block
        ("think", "Preamble <think>r</think> 4", False),  # not at the start
        ("think", "<think>a</think><think>b</think> 4", False),  # two blocks
        ("think", "<think>a</think> 4 </think>", False),  # stray closing tag
        ("think", "4", False),
        ("answer_tag", "<think>x</think><answer>4</answer>", True),
        ("answer_tag", "<answer>4</answer>\n", True),
        ("answer_tag", "<answer>4</answer> and more text", False),
        ("answer_tag", "<answer>4</answer><answer>5</answer>", False),
        ("answer_tag", "<answer> </answer>", False),
        ("boxed_end", "so $\\boxed{4}$.", True),
        ("boxed_end", "\\[\\boxed{\\frac{1}{2}}\\]", True),
        ("boxed_end", "\\boxed{4} but maybe 5", False),
        ("boxed_end", "\\boxed{4} \\boxed{4}", False),
        ("boxed_end", "\\boxed{}", False),
    ],
)
def test_format_checks_are_anchored(check, text, ok):
    assert FORMAT_CHECKERS[check](text) is ok


def test_overlong_term_is_dapo_shifted_into_unit_interval():
    assert overlong_term(100, 1000, 200) == 1.0
    assert overlong_term(800, 1000, 200) == 1.0
    assert overlong_term(900, 1000, 200) == pytest.approx(0.5)
    assert overlong_term(1000, 1000, 200) == 0.0
    assert overlong_term(5000, 1000, 200) == 0.0


def test_length_units():
    assert length_of("a b  c", "words") == 3
    assert length_of("abcdefgh", "chars") == 8
    assert length_of("abcdefgh", "tokens") == 2
    assert length_of("é" * 4, "tokens") == 2  # 8 UTF-8 bytes


def test_shape_is_a_weighted_mean_in_unit_interval():
    settings = RewardSettings(
        format=("think",),
        weight_format=1.0,
        overlong_max=10,
        overlong_cache=0,
        length_unit="chars",
        weight_overlong=2.0,
    )
    good = "<think></think>4"  # 16 chars: over the limit
    shaped = shape(1.0, good, settings)
    assert shaped.terms == {"format": 1.0, "overlong": 0.0}
    assert shaped.score == pytest.approx((1 + 1 + 0) / 4)
    assert shape(0.0, "x", settings).score == pytest.approx((0 + 0 + 2) / 4)


def test_format_gate_zeroes_a_badly_formatted_answer():
    settings = RewardSettings(format=("think",), format_gate=True)
    assert shape(1.0, "4", settings).score == 0.0
    assert shape(1.0, "<think>x</think>4", settings).score == 1.0


def test_no_shaping_configured_leaves_correctness_alone():
    assert shape(0.7, "anything", RewardSettings()).score == 0.7


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\uff11\uff18", "18"),  # fullwidth digits
        ("1\u200b8", "18"),  # zero-width space
        ("\u202e81\u202c", "81"),  # bidi override
        ("\u22125", "-5"),  # minus sign
        ("1\u00a0000", "1 000"),  # no-break space
        ("٨١", "٨١"),  # Arabic-Indic digits stay what they are: not ASCII digits
        ("plain ascii", "plain ascii"),
    ],
)
def test_unicode_policy(raw, expected):
    assert normalize_unicode(raw) == expected


def test_find_boxes_handles_nesting_escapes_and_unclosed():
    boxes = find_boxes(r"a \boxed{\frac{1}{2}} b \boxed{\{1,2\}} c \fbox{3} \boxed 7 \boxed{open")
    assert [content for content, _, _ in boxes] == [r"\frac{1}{2}", r"\{1,2\}", "3", "7"]


def test_braced_group_and_tail():
    assert braced_group("{a{b}c}d", 0) == ("a{b}c", 7)
    assert braced_group("{abc", 0) is None
    assert tail("abcdef", 3) == "def" and tail("ab", 3) == "ab"
