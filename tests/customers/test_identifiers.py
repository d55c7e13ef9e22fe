"""Identifier normalisation: one stored spelling whatever the format given."""

import pytest

from app.customers.identifiers import normalize_email, normalize_external, normalize_phone

SAME_NUMBER = [
    # (region used for national formats, spellings, E.164)
    (
        "ES",
        [
            "612 34 56 78",
            "612345678",
            "+34 612-345-678",
            "0034612345678",
            "+34612345678",
            "(+34) 612 34 56 78",
            "tel:+34-612-34-56-78",
        ],
        "+34612345678",
    ),
    ("PT", ["912 345 678", "+351 912 345 678", "00351912345678"], "+351912345678"),
    (
        "BR",
        ["(11) 91234-5678", "11 91234 5678", "+55 11 91234-5678", "+5511912345678"],
        "+5511912345678",
    ),
    ("FR", ["06 12 34 56 78", "0612345678", "+33 6 12 34 56 78", "0033612345678"], "+33612345678"),
    ("US", ["(650) 253-0000", "650-253-0000", "+1 650 253 0000", "1 650 253 0000"], "+16502530000"),
    ("GB", ["020 7946 0958", "+44 20 7946 0958", "0044 20 7946 0958"], "+442079460958"),
]


@pytest.mark.parametrize(("region", "spellings", "e164"), SAME_NUMBER)
def test_every_spelling_is_one_e164(region: str, spellings: list[str], e164: str) -> None:
    assert {normalize_phone(s, region) for s in spellings} == {e164}


def test_international_numbers_ignore_the_default_region() -> None:
    assert normalize_phone("+351 912 345 678", "ES") == "+351912345678"
    assert normalize_phone("0033612345678", "ES") == "+33612345678"


@pytest.mark.parametrize("bad", ["12", "not a phone", "+34 000", "612 34 56 7", ""])
def test_invalid_phone_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalize_phone(bad, "ES")


def test_email_is_trimmed_and_lower_cased() -> None:
    assert normalize_email("  Jose.Nunez@Example.COM ") == "jose.nunez@example.com"
    with pytest.raises(ValueError):
        normalize_email("jose@@example")


def test_external_id_shape() -> None:
    assert normalize_external("Shopify:Customer:7023") == "shopify:customer:7023"
    assert normalize_external("stripe:customer:cus_ABC") == "stripe:customer:cus_ABC"
    for bad in ("shopify:7023", "no spaces:x:1", "::1"):
        with pytest.raises(ValueError):
            normalize_external(bad)
