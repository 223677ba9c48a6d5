"""Masks keep only what an agent needs to recognise the customer on the line."""

import json

import pytest
from notifier.domain.masking import in_full, mask_email, mask_name, mask_phone, masked

ADDRESS = json.dumps({"lines": ["浦东新区世纪大道100号", "12楼"], "city": "上海市", "region": "上海",
                      "postal_code": "200120", "country": "CN"}, ensure_ascii=False)
EMPTY_ADDRESS = json.dumps({"lines": [], "city": "", "region": "", "postal_code": "", "country": ""})


@pytest.mark.parametrize(("clear", "shown"), [
    ("王小明", "王**"), ("韩梅梅", "韩**"), ("Han Meimei", "H** ******"), ("李", "*"), ("", ""),
])
def test_a_name_keeps_its_first_character(clear, shown):
    assert mask_name(clear) == shown


@pytest.mark.parametrize(("clear", "shown"), [
    ("13812345678", "138****5678"), ("+8613812345678", "+86138****5678"), ("+12025550123", "+120****0123"),
    ("12345678", "********"), ("555", "***"),
])
def test_a_phone_hides_the_four_digits_before_the_last_four(clear, shown):
    assert mask_phone(clear) == shown


@pytest.mark.parametrize(("clear", "shown"), [("zhang.wei@example.cn", "z***@example.cn"), ("no-at-sign", "***")])
def test_an_email_keeps_its_first_letter_and_domain(clear, shown):
    assert mask_email(clear) == shown


def test_an_address_keeps_city_region_and_country_and_hides_the_street():
    shown = masked({"address": ADDRESS})["address"]
    assert shown == "****, 上海市, 上海, CN"
    assert "世纪大道" not in shown and "200120" not in shown


def test_empty_fields_are_none_masked_or_in_full():
    details = {"name": "", "phone": None, "email": "", "address": EMPTY_ADDRESS}
    assert masked(details) == in_full(details) == {"name": None, "phone": None, "email": None, "address": None}


def test_in_full_writes_the_address_on_one_line():
    assert in_full({"address": ADDRESS, "phone": "+8613812345678"}) == {
        "address": "浦东新区世纪大道100号, 12楼, 上海市, 上海, 200120, CN", "phone": "+8613812345678"}
