"""The client's rules that need no service: canonical scopes, Retry-After, where to sign for."""

import os

from tvs_client import TokenClient, canonical_scope, fingerprint_of
from tvs_client._client import _clamp_retry_after, refresh_margin_seconds


def test_canonical_scope_dedupes_sorts_and_joins_by_one_space():
    assert canonical_scope("  *:b/** .:a/**  *:b/** ") == "*:b/** .:a/**"


def test_no_canonical_scope_for_a_tab_or_an_overlong_string():
    assert canonical_scope(".:a/**\t.:b/**") is None
    assert canonical_scope(" ".join([".:a/**"] * 200)) is None
    assert canonical_scope("   ") is None


def test_refresh_margin_is_the_smaller_of_300_s_and_a_quarter_of_the_lifetime():
    assert refresh_margin_seconds(60) == 15
    assert refresh_margin_seconds(1200) == 300
    assert refresh_margin_seconds(3600) == 300
    assert refresh_margin_seconds(60, 42) == 42


def test_retry_after_is_clamped_to_one_second_to_an_hour():
    assert _clamp_retry_after("99999999999999999999999") == 3600
    assert _clamp_retry_after("0") == 1
    assert _clamp_retry_after("7") == 7
    assert _clamp_retry_after("-5") is None
    assert _clamp_retry_after(None) is None


def test_signs_for_the_region_and_service_of_the_host_name(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.delenv("TVS_SIGNING_SERVICE", raising=False)
    url = TokenClient("https://abc123.lambda-url.ap-southeast-2.on.aws")
    api = TokenClient("https://abc123.execute-api.eu-west-1.amazonaws.com/prod")
    local = TokenClient("http://127.0.0.1:8787")
    assert (url._region, url._service) == ("ap-southeast-2", "lambda")
    assert (api._region, api._service) == ("eu-west-1", "execute-api")
    assert (local._region, local._service) == ("us-west-2", "execute-api")


def test_a_token_never_shows_in_its_repr():
    from tvs_client import VendedToken

    token = VendedToken("secret-token-value", "Bearer", ".:a/**", "c", 2.0, 1.0)
    assert "secret-token-value" not in repr(token)
    assert fingerprint_of("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert os.sep
