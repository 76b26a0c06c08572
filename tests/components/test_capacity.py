"""Capacity mixes and pool sizes: the ASG's rounding, the defaults, the refusals."""

from components.capacity import DEFAULT_MIX, CapacityMix, PoolSize


def test_on_demand_share_rounds_up_like_the_asg() -> None:
    inference = DEFAULT_MIX["inference"]
    assert (inference.on_demand_base, inference.on_demand_percentage_above_base) == (1, 30)
    assert [inference.on_demand_nodes(n) for n in (0, 1, 2, 4, 11)] == [0, 1, 2, 2, 4]
    training = DEFAULT_MIX["training"]
    assert training.on_demand_base == 0 and training.spot_percentage_above_base >= 70
    assert not CapacityMix(on_demand_base=2, on_demand_percentage_above_base=100).uses_spot


def test_invalid_mixes_and_sizes_are_refused() -> None:
    for bad in ({"on_demand_base": -1, "on_demand_percentage_above_base": 0},
                {"on_demand_base": 0, "on_demand_percentage_above_base": 101}):  # fmt: skip
        try:
            CapacityMix(**bad)
        except ValueError:
            continue
        raise AssertionError(bad)
    try:
        PoolSize(min_size=3, desired_size=2, max_size=4)
    except ValueError:
        pass
    else:
        raise AssertionError("min above desired accepted")
