from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from dualchannel.documents import crypto
from dualchannel.documents.apps import check_key_encryption_key


def test_sm3_matches_the_standard_vector():
    # GB/T 32905-2016 appendix A.1: SM3("abc")
    assert crypto.sm3_hex(b"abc") == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )


def test_sign_and_verify_round_trip_and_reject_other_message():
    private_hex, public_hex = crypto.generate_keypair()
    signature = crypto.sign(private_hex, public_hex, "内容".encode())
    assert crypto.verify(public_hex, "内容".encode(), signature)
    assert not crypto.verify(public_hex, "内容!".encode(), signature)
    assert not crypto.verify(public_hex, "内容".encode(), "0" * 128)
    assert not crypto.verify(public_hex, "内容".encode(), "not hex")


def test_signatures_use_fresh_nonces():
    private_hex, public_hex = crypto.generate_keypair()
    assert crypto.sign(private_hex, public_hex, b"x") != crypto.sign(private_hex, public_hex, b"x")


def test_public_keys_starting_with_0_or_4_still_verify():
    # gmssl's constructor would lstrip("04") such keys; crypto sets the key after construction.
    for _ in range(200):
        private_hex, public_hex = crypto.generate_keypair()
        if public_hex[0] in "04":
            break
    else:  # pragma: no cover - probability 7/8 per draw
        pytest.fail("no key starting with 0 or 4 drawn")
    signature = crypto.sign(private_hex, public_hex, b"msg")
    assert crypto.verify(public_hex, b"msg", signature)


def test_other_key_does_not_verify():
    private_hex, public_hex = crypto.generate_keypair()
    _, other_public = crypto.generate_keypair()
    signature = crypto.sign(private_hex, public_hex, b"msg")
    assert not crypto.verify(other_public, b"msg", signature)


def test_private_key_wrapping_uses_dedicated_key_when_set(settings):
    settings.DOCUMENT_KEY_ENCRYPTION_KEY = ""
    fallback_id = crypto.key_encryption_key_id()
    settings.DOCUMENT_KEY_ENCRYPTION_KEY = "k" * 44
    wrapped, kek_id = crypto.encrypt_private_key("ab" * 32)
    assert kek_id != fallback_id
    assert crypto.decrypt_private_key(wrapped) == "ab" * 32
    settings.DOCUMENT_KEY_ENCRYPTION_KEY = "z" * 44
    with pytest.raises(crypto.PrivateKeyUnavailable):
        crypto.decrypt_private_key(wrapped)


def test_short_dedicated_key_is_refused(settings):
    settings.DOCUMENT_KEY_ENCRYPTION_KEY = "short"
    with pytest.raises(ImproperlyConfigured):
        crypto.key_encryption_key()


def test_deploy_check_warns_without_dedicated_key(settings):

    settings.DOCUMENT_KEY_ENCRYPTION_KEY = ""
    assert [m.id for m in check_key_encryption_key()] == ["documents.W001"]
    settings.DOCUMENT_KEY_ENCRYPTION_KEY = "k" * 44
    assert check_key_encryption_key() == []
