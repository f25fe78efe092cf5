"""Looking an X account up by its handle: the real tweepy client against a real local server
answering GET /2/users/by/username/:username in X API v2's exact format."""

from __future__ import annotations

import json

import pytest

from connectors.base import AuthError, ConfigError, PayloadError, RetryableError
from connectors.facebook import FacebookConnector
from connectors.x import XConnector
from tests.conftest import SHARED_DIR, needs_shared
from tests.connectors.test_x import BEARER, SCHOOL_ID, recording
from tests.http_server import answer, json_answer

CASSETTE = (SHARED_DIR / "fixtures" / "recorded" / "tweepy" / "decoded"
            / "test_client_get_user__0.json")
needs_cassette = needs_shared(CASSETTE, "tweepy's recorded user lookup is")


def by_username(handle: str) -> str:
    return f"/2/users/by/username/{handle}"


def not_found(handle: str) -> dict:
    """X's answer for a username no account has: 200, no data, one error of this shape."""
    return {"errors": [{
        "value": handle, "detail": f"Could not find user with username: [{handle}].",
        "title": "Not Found Error", "resource_type": "user", "parameter": "username",
        "resource_id": handle, "type": "https://api.twitter.com/2/problems/resource-not-found"}]}


def x(url: str, secrets: dict | None = None) -> XConnector:
    return XConnector({"account": SCHOOL_ID, "base_url": url},
                      BEARER if secrets is None else secrets)


@needs_cassette
def test_a_found_handle_gives_the_accounts_id_handle_and_name(local_server):
    cassette = json.loads(CASSETTE.read_text(encoding="utf-8"))
    server = local_server(routes={("GET", by_username("Twitter")): answer(cassette)})
    found = x(server.url).lookup_account("@Twitter")
    assert (found.id, found.handle, found.name) == ("783214", "Twitter", "Twitter")
    (asked,) = server.requests
    assert asked.headers["Authorization"] == "Bearer AAAA-test-bearer"


def test_the_current_handle_is_what_x_says_not_what_was_typed(local_server):
    server = local_server(routes={("GET", by_username("oakhater")): json_answer(
        {"data": {"id": "1700000000000000042", "name": "Oak H", "username": "OakHater"}})})
    found = x(server.url).lookup_account("oakhater")
    assert (found.id, found.handle) == ("1700000000000000042", "OakHater")


def test_an_unknown_handle_is_none(local_server):
    server = local_server(routes={("GET", by_username("nobody_here")): json_answer(
        not_found("nobody_here"))})
    assert x(server.url).lookup_account("nobody_here") is None
    assert len(server.requests) == 1


def test_an_answer_with_neither_a_user_nor_not_found_is_a_payload_error(local_server):
    server = local_server(routes={("GET", by_username("OakHater")): json_answer({"errors": [{
        "title": "Service Unavailable", "detail": "Service temporarily unavailable",
        "type": "https://api.twitter.com/2/problems/service-unavailable"}]})})
    with pytest.raises(PayloadError, match="X gave no user for @OakHater: Service temporarily"):
        x(server.url).lookup_account("OakHater")


def test_a_handle_x_could_never_have_is_none_without_asking(local_server):
    server = local_server(routes={})
    assert x(server.url).lookup_account("oak.hater") is None
    assert x(server.url).lookup_account("a_handle_far_too_long_for_x") is None
    assert server.requests == []


def test_refused_credentials_are_an_auth_error(local_server):
    server = local_server(routes={("GET", by_username("OakHater")): answer(
        recording("error_401_unauthorized"))})
    with pytest.raises(AuthError, match="X refused the credentials"):
        x(server.url).lookup_account("OakHater")


def test_a_rate_limit_is_retryable(local_server):
    server = local_server(routes={("GET", by_username("OakHater")): answer(
        recording("error_429_too_many_requests"))})
    with pytest.raises(RetryableError):
        x(server.url).lookup_account("OakHater")


def test_no_credentials_is_refused_before_anything_is_sent(local_server):
    server = local_server(routes={})
    with pytest.raises(ConfigError, match="no X credentials to read accounts"):
        x(server.url, {}).lookup_account("OakHater")
    assert server.requests == []


def test_platforms_without_a_lookup_say_so():
    assert XConnector.lookup_refusal is None
    refusal = FacebookConnector.lookup_refusal
    assert refusal.startswith("Facebook does not let apps look an account up by its handle")
    connector = FacebookConnector.__new__(FacebookConnector)
    with pytest.raises(ConfigError, match="^Facebook does not let apps"):
        connector.lookup_account("someone")
