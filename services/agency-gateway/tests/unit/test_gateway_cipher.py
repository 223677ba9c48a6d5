"""PII sealing: AES-GCM with a key id per value, rotation, and binding to the row."""

import base64

import pytest
from agency_gateway.cipher import Keyring
from cryptography.exceptions import InvalidTag

OLD = "k2025:" + base64.urlsafe_b64encode(b"o" * 32).decode()
NEW = "k2026:" + base64.urlsafe_b64encode(b"n" * 32).decode()


def test_rotation_keeps_old_values_readable_and_seals_new_ones_with_the_first_key():
    sealed_before = Keyring(OLD).seal("Li Wei", "C-1")
    rotated = Keyring(f"{NEW},{OLD}")
    assert sealed_before.startswith("k2025:") and "Li Wei" not in sealed_before
    assert rotated.open(sealed_before, "C-1") == "Li Wei"
    assert rotated.seal("Li Wei", "C-1").startswith("k2026:")
    assert rotated.seal("Li Wei", "C-1") != rotated.seal("Li Wei", "C-1")  # fresh nonce every time


def test_a_value_moved_to_another_row_does_not_open():
    keyring = Keyring(NEW)
    with pytest.raises(InvalidTag):
        keyring.open(keyring.seal("+8613800138000", "C-1"), "C-2")


def test_a_value_whose_key_was_dropped_does_not_open_and_bad_keys_are_refused():
    sealed = Keyring(OLD).seal("x", "C-1")
    with pytest.raises(KeyError):
        Keyring(NEW).open(sealed, "C-1")
    with pytest.raises(ValueError):
        Keyring("short:" + base64.urlsafe_b64encode(b"too short").decode())
