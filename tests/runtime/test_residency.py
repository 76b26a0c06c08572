from runtime.residency import ResidencyMap

PLATFORM = {
    "jurisdictions": {"eu": {"regions": ["eu-west-1", "eu-central-1"]}, "us": {"regions": ["us-east-1"]}},
    "tenants": {
        "acme-eu": {"jurisdiction": "eu", "home_region": "eu-west-1", "failover_regions": ["eu-central-1"]},
        "globex-us": {"jurisdiction": "us", "home_region": "us-east-1"},
    },
}


def test_eu_tenant_is_served_only_in_its_regions() -> None:
    residency = ResidencyMap.from_dict(PLATFORM)
    assert residency.may_serve("acme-eu", "eu-west-1")
    assert residency.may_serve("acme-eu", "eu-central-1")
    assert not residency.may_serve("acme-eu", "us-east-1")
    assert not residency.may_serve("unknown", "eu-west-1")
    assert residency.tenants_in("eu-central-1") == ["acme-eu"]
    assert residency.jurisdiction_of("us-east-1") == "us"


def test_one_definition_of_where_a_tenants_data_may_live() -> None:
    """A third EU region that is neither home nor failover holds no acme-eu data, although it is in the EU."""
    platform = {
        "jurisdictions": {"eu": ["eu-west-1", "eu-central-1", "eu-north-1"], "us": ["us-east-1"]},
        "tenants": PLATFORM["tenants"],
    }
    residency = ResidencyMap.from_dict(platform)
    assert residency.regions_holding("acme-eu") == ("eu-west-1", "eu-central-1")
    assert not residency.may_hold("acme-eu", "eu-north-1")
    assert residency.tenants_in("eu-north-1") == []
    for region in ("eu-west-1", "eu-central-1", "eu-north-1", "us-east-1"):
        for tenant in residency.tenants:
            assert residency.may_serve(tenant, region) == (tenant in residency.tenants_in(region))
    assert list(residency.problems()) == []


def test_a_failover_outside_the_jurisdiction_is_a_problem_and_never_holds_data() -> None:
    tenants = {"acme-eu": {"jurisdiction": "eu", "home_region": "eu-west-1", "failover_regions": ["us-east-1"]}}
    residency = ResidencyMap.from_dict({"jurisdictions": PLATFORM["jurisdictions"], "tenants": tenants})
    assert [(p.where, "outside" in p.message) for p in residency.problems()] == [
        ("tenants.acme-eu.failover_regions[0]", True)
    ]
    assert not residency.may_hold("acme-eu", "us-east-1")
    assert residency.regions_holding("acme-eu") == ("eu-west-1",)


def test_a_region_in_two_jurisdictions_and_an_unknown_jurisdiction_are_problems() -> None:
    residency = ResidencyMap.from_dict(
        {
            "jurisdictions": {"eu": ["eu-west-1"], "uk": ["eu-west-1"]},
            "tenants": {"x": {"jurisdiction": "mars", "home_region": "eu-west-1"}},
        }
    )
    assert {p.where for p in residency.problems()} == {"jurisdictions.uk.regions", "tenants.x.jurisdiction"}


def test_as_dict_round_trips() -> None:
    residency = ResidencyMap.from_dict(PLATFORM)
    assert ResidencyMap.from_dict(residency.as_dict()) == residency
