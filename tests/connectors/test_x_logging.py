"""No X credential reaches a log at any level. With DEBUG logging, tweepy writes each request's
headers (the bearer token), requests-oauthlib the OAuth client (consumer key and access token)
and oauthlib the parameters it signs (the same two); the X client switches their DEBUG off."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from connectors.base import AuthError, Author, Item
from connectors.x_client import SECRET_LOGGERS, _silence_debug
from tests.connectors.test_x import SCHOOL_ID, connector, mentions_world, recording, source
from tests.http_server import answer

SECRETS = {
    "bearer_token": "AAAAbearer-7f3c9e1d2b4a",
    "consumer_key": "ckey-5d8e2f7a1c3b",
    "consumer_secret": "csecret-9b4e6a2d8f1c",
    "access_token": f"{SCHOOL_ID}-atoken3e7b9d1f5a2c",
    "access_token_secret": "atsecret-1a5c9e3b7d2f",
}


def leaks(caplog: pytest.LogCaptureFixture) -> dict[str, set[str]]:
    """Which logger wrote which credential, from every record captured."""
    found: dict[str, set[str]] = {}
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        for name, value in SECRETS.items():
            # The access token starts with the account's public id; its secret part is after.
            secret = value.split("-", 1)[1] if name == "access_token" else value
            if secret in text:
                found.setdefault(record.name, set()).add(name)
    return found


@pytest.fixture
def debug_everything(caplog):
    """What `run -v` does, the root logger at DEBUG, with the libraries that log credentials
    in the state loading the X client leaves them (whatever other tests did to them), and
    urllib3 at DEBUG so that every request is seen to be logged at all."""
    levels = {name: logging.getLogger(name).level for name in SECRET_LOGGERS}
    for name in SECRET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    _silence_debug(SECRET_LOGGERS)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    yield caplog
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("keys", [
    ["bearer_token"],  # reading with the bearer token
    [name for name in SECRETS if name != "bearer_token"],  # reading signed with OAuth 1.0a
])
def test_a_poll_logged_at_debug_writes_no_credential(local_server, debug_everything, keys):
    server = local_server(routes={("GET", f"/2/users/{SCHOOL_ID}/mentions"):
                                  lambda request: answer(recording(mentions_world(
                                      request.query)))})
    x = connector({"base_url": server.url}, {name: SECRETS[name] for name in keys})
    pages = list(x.fetch(source(), {"since_id": "2122000000000000000"}))
    assert sum(len(page.items) for page in pages) == 5
    assert any(record.name.startswith("urllib3") and "/mentions" in record.getMessage()
               for record in debug_everything.records), "DEBUG logging captured no request"
    assert not leaks(debug_everything), f"credentials logged by: {leaks(debug_everything)}"


def test_actions_check_and_errors_logged_at_debug_write_no_credential(local_server,
                                                                      debug_everything):
    hidden = "/2/tweets/2122588081222729730/hidden"
    server = local_server(routes={
        ("PUT", hidden): answer(recording("hide_reply")),
        ("GET", f"/2/users/{SCHOOL_ID}"): answer(recording("user_by_id")),
        ("GET", "/2/users/me"): answer(recording("users_me")),
        ("GET", f"/2/users/{SCHOOL_ID}/mentions"): answer(recording("error_401_unauthorized")),
    })
    x = connector({"base_url": server.url}, SECRETS)
    item = Item("2122588081222729730", "mention", "", datetime.now(UTC),
                Author("1527700112233445566", "samr_1985"), parent_id="2122238238520393729")
    assert x.act("hide", item).ok
    assert x.check().ok
    with pytest.raises(AuthError) as refused:
        list(x.fetch(source(), None))
    assert not any(value in str(refused.value) for value in SECRETS.values())
    assert not leaks(debug_everything), f"credentials logged by: {leaks(debug_everything)}"


def test_the_libraries_that_log_credentials_have_their_debug_switched_off():
    for name in SECRET_LOGGERS:
        assert logging.getLogger(name).getEffectiveLevel() >= logging.INFO, name


def test_a_quieter_level_set_elsewhere_is_kept():
    logger = logging.getLogger("requests_oauthlib")
    before = logger.level
    try:
        logger.setLevel(logging.WARNING)
        _silence_debug(("requests_oauthlib",))
        assert logger.level == logging.WARNING
        logger.setLevel(logging.NOTSET)
        _silence_debug(("requests_oauthlib",))
        assert logger.level == logging.INFO
    finally:
        logger.setLevel(before)
