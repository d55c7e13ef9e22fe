"""Identifier normalisation: one stored spelling whatever the format given."""

import pytest

from app.customers.identifiers import (
    normalize_email,
    normalize_external,
    normalize_phone,
    phone_readings,
)

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


@pytest.mark.parametrize(
    ("raw", "region", "readings"),
    [
        ("33612345678", "BR", ["+5533612345678", "+33612345678"]),
        ("612345678", "ES", ["+34612345678", "+612345678"]),
        ("351912345678", "ES", ["+351912345678"]),  # too long for Spain: one reading
        ("612 34 56 78", "ES", ["+34612345678"]),  # separators: written nationally
        ("+33612345678", "BR", ["+33612345678"]),
        ("0033612345678", "ES", ["+33612345678"]),
    ],
)
def test_bare_digit_caller_ids_have_every_reading(
    raw: str, region: str, readings: list[str]
) -> None:
    assert phone_readings(raw, region) == readings


def test_a_caller_id_with_no_reading_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid phone number"):
        phone_readings("12", "ES")


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
