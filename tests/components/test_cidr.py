import ipaddress
from itertools import combinations

import pytest

from components.cidr import overlapping_pairs, plan_subnets

AZS = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]


@pytest.mark.parametrize("cidr", ["10.20.0.0/16", "10.1.0.0/18", "172.16.0.0/20"])
@pytest.mark.parametrize("az_count", [2, 3, 6])
def test_subnets_are_disjoint_and_inside_the_vpc(cidr: str, az_count: int) -> None:
    vpc = ipaddress.ip_network(cidr)
    azs = [f"eu-west-1{chr(97 + i)}" for i in range(az_count)]
    plan = plan_subnets(vpc, azs)
    subnets = [n for az in plan for n in (az.public, az.private, az.intra)]
    assert len(subnets) == 3 * az_count
    assert all(s.subnet_of(vpc) for s in subnets)
    assert not [(a, b) for a, b in combinations(subnets, 2) if a.overlaps(b)]
    assert [az.az for az in plan] == azs


def test_a_16_gives_pods_a_19_per_az_and_leaves_room_to_grow() -> None:
    plan = plan_subnets(ipaddress.ip_network("10.20.0.0/16"), AZS)
    assert {az.private.prefixlen for az in plan} == {19}
    assert {az.public.prefixlen for az in plan} == {22}
    assert {az.intra.prefixlen for az in plan} == {22}
    used = sum(n.num_addresses for az in plan for n in (az.public, az.private, az.intra))
    assert used < 65536 * 0.5  # three more AZs fit without renumbering


def test_the_plan_is_stable_when_azs_are_added() -> None:
    vpc = ipaddress.ip_network("10.20.0.0/16")
    three = plan_subnets(vpc, AZS)
    four = plan_subnets(vpc, [*AZS, "eu-west-1d"])
    assert four[:3] == three


@pytest.mark.parametrize(
    ("cidr", "azs", "message"),
    [
        ("10.0.0.0/24", AZS, "too small"),
        ("10.0.0.0/16", [f"a{i}" for i in range(7)], "between 1 and 6"),
        ("10.0.0.0/16", ["a", "a"], "repeat"),
    ],
)
def test_impossible_plans_are_refused(cidr: str, azs: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_subnets(ipaddress.ip_network(cidr), azs)


def test_overlapping_pairs_names_both_sides() -> None:
    nets = {
        "a": ipaddress.IPv4Network("10.0.0.0/16"),
        "b": ipaddress.IPv4Network("10.0.128.0/17"),
        "c": ipaddress.IPv4Network("10.1.0.0/16"),
    }
    assert list(overlapping_pairs(nets)) == [("a", "b")]
