import pytest

from rft.stats import quantile


def test_quantiles_interpolate_between_ranks_and_hit_the_ends():
    values = [1.0, 2.0, 4.0, 8.0]
    assert quantile(values, 0.0) == 1.0 and quantile(values, 1.0) == 8.0
    assert quantile(values, 0.5) == pytest.approx(3.0)  # halfway between 2 and 4
    assert quantile(values, 0.99) == pytest.approx(4.0 + 4.0 * 0.97)


def test_one_value_and_no_values():
    assert quantile([0.25], 0.9) == 0.25
    assert quantile([], 0.5) == 0.0  # a batch with no timed samples reports 0, not an error


@pytest.mark.parametrize("q", [-0.1, 1.5, float("nan")])
def test_a_quantile_outside_zero_to_one_is_refused(q):
    with pytest.raises(ValueError, match="between 0 and 1"):
        quantile([1.0, 2.0], q)
