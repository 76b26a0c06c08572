import pytest

from components.naming import region_code


@pytest.mark.parametrize(
    ("region", "code"),
    [
        ("eu-west-1", "euw1"),
        ("eu-central-1", "euc1"),
        ("ap-southeast-1", "apse1"),
        ("us-east-1", "use1"),
        ("us-gov-west-1", "usgw1"),
    ],
)
def test_region_codes(region: str, code: str) -> None:
    assert region_code(region) == code


@pytest.mark.parametrize("bad", ["eu", "eu-west", "xx-up-1"])
def test_bad_region_names(bad: str) -> None:
    with pytest.raises(ValueError):
        region_code(bad)
