import base64
import os

import pytest
from cryptography.exceptions import InvalidTag
from notifier.crypto import PiiCipher, UnknownKey

OLD, NEW, LOOKUP = os.urandom(32), os.urandom(32), os.urandom(32)


def test_a_value_carries_its_key_id_and_never_the_clear_text():
    cipher = PiiCipher({"k1": OLD}, "k1", LOOKUP)
    stored = cipher.encrypt("+8613800138000", "C-1", "phone")
    assert stored.startswith("k1:") and "13800138000" not in stored
    assert cipher.decrypt(stored, "C-1", "phone") == "+8613800138000"
    assert cipher.encrypt("+8613800138000", "C-1", "phone") != stored, "a fresh nonce per value"


def test_a_value_moved_to_another_customer_or_field_does_not_decrypt():
    cipher = PiiCipher({"k1": OLD}, "k1", LOOKUP)
    stored = cipher.encrypt("+8613800138000", "C-1", "phone")
    with pytest.raises(InvalidTag):
        cipher.decrypt(stored, "C-2", "phone")
    with pytest.raises(InvalidTag):
        cipher.decrypt(stored, "C-1", "email")


def test_rotation_re_encrypts_under_the_active_key_and_old_values_stay_readable_until_then():
    before = PiiCipher({"k1": OLD}, "k1", LOOKUP)
    stored = before.encrypt("li.lei@example.cn", "C-1", "email")
    after = PiiCipher({"k1": OLD, "k2": NEW}, "k2", LOOKUP)
    assert after.needs_rotation(stored)
    assert after.decrypt(stored, "C-1", "email") == "li.lei@example.cn"
    rotated = after.rotate(stored, "C-1", "email")
    assert rotated.startswith("k2:") and not after.needs_rotation(rotated)
    with pytest.raises(UnknownKey):
        PiiCipher({"k1": OLD}, "k1", LOOKUP).decrypt(rotated, "C-1", "email")


def test_lookup_hash_is_keyed_and_normalised():
    cipher = PiiCipher({"k1": OLD}, "k1", LOOKUP)
    other = PiiCipher({"k1": OLD}, "k1", os.urandom(32))
    assert cipher.lookup_hash(" Li.Lei@Example.cn") == cipher.lookup_hash("li.lei@example.cn")
    assert cipher.lookup_hash("li.lei@example.cn") != other.lookup_hash("li.lei@example.cn")


def test_keys_are_checked_at_start_up():
    with pytest.raises(ValueError):
        PiiCipher({"k1": OLD}, "k2", LOOKUP)
    with pytest.raises(ValueError):
        PiiCipher.from_settings({"k1": base64.b64encode(b"short").decode()}, "k1", base64.b64encode(LOOKUP).decode())

