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
