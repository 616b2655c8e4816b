"""Key ids cannot be probed (issue 21, point 8): an unknown key id and a known id with a
wrong secret take the same path and cost the same lookups; failed lookups are remembered
briefly, in a bounded cache. Asserted by structure (statements, calls), never by timing:
bench/key_probe.py measures the times."""
import logging
import secrets
import threading
from contextlib import contextmanager

import pytest

from app.models import ApiKey
from app.services import tenants as tenant_service
from app.services.tenants import KeyAuthenticator
from helpers import assert_problem, key_parts

PATH = "/accounts/PROBE"  # absent: a key that passes answers 404


class Clock:
    """A monotonic clock the test moves by hand (TTLCache's timer)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class _KeyLookups(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.statements = []

    def emit(self, record):
        sql = str(record.msg[0] if isinstance(record.msg, tuple) else record.msg)
        if "api_keys" in sql:
            self.statements.append(sql)


@contextmanager
def key_lookups():
    """The statements reading api_keys run inside the block (Peewee logs each)."""
    logger = logging.getLogger("peewee")
    handler, level = _KeyLookups(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.statements
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def caching(app, clock):
    """The app with the production caches (5 s for keys that pass, 2 s for keys that fail)
    on a clock the test moves."""
    app.extensions["ar_ingest_keys"] = KeyAuthenticator(5.0, 2.0, timer=clock)
    return app.extensions["ar_ingest_keys"]


def unknown_key():
    return f"ark_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"


def wrong_secret(api_key):
    return f"ark_{key_parts(api_key)[0]}_{secrets.token_urlsafe(32)}"


def test_the_same_unknown_key_is_looked_up_once_within_the_negative_ttl(api, caching, clock):
    probe = unknown_key()
    with key_lookups() as lookups:
        for _ in range(20):
            assert_problem(api.get(PATH, key=probe), 401, "unauthorized")
            clock.now += 0.05  # 1 s in all: within the 2 s
    assert len(lookups) == 1
    clock.now += 1.5
    with key_lookups() as lookups:
        assert_problem(api.get(PATH, key=probe), 401, "unauthorized")
    assert len(lookups) == 1  # remembered briefly, then asked again


def test_a_known_id_with_a_wrong_secret_is_remembered_like_an_unknown_id(api, api_key,
                                                                         caching, clock):
    probe = wrong_secret(api_key)
    with key_lookups() as lookups:
        for _ in range(20):
            assert_problem(api.get(PATH, key=probe), 401, "unauthorized")
    assert len(lookups) == 1


def test_a_known_id_costs_a_prober_what_an_unknown_id_costs(api, api_key, caching):
    """The key's real use put it in the cache; a prober without the secret never meets that
    entry: each fresh guess is one lookup, whether the id exists or not."""
    assert api.get(PATH).status_code == 404
    with key_lookups() as in_use:
        for _ in range(5):
            assert api.get(PATH).status_code == 404
    assert in_use == []
    with key_lookups() as known:
        for _ in range(10):
            assert_problem(api.get(PATH, key=wrong_secret(api_key)), 401, "unauthorized")
    with key_lookups() as unknown:
        for _ in range(10):
            assert_problem(api.get(PATH, key=unknown_key()), 401, "unauthorized")
    assert len(known) == len(unknown) == 10
    assert set(known) == set(unknown) and len(set(known)) == 1  # one and the same statement


def test_the_lookup_answers_one_row_of_the_same_shape_whether_the_id_exists_or_not(api_key):
    found = KeyAuthenticator.look_up(key_parts(api_key)[0])
    missing = KeyAuthenticator.look_up(secrets.token_hex(8))
    assert len(found) == len(missing) == 7
    assert found[-1] == 0 and missing[-1] == 1
    assert len(found[3]) == len(missing[3]) == 64  # a digest to compare with, either way


@pytest.mark.parametrize("kind", ["unknown id", "known id, wrong secret"])
def test_every_well_formed_key_runs_the_same_verification(api, api_key, caching, monkeypatch,
                                                          kind):
    compared = []
    real = tenant_service.hmac.compare_digest

    class SpyHmac:
        @staticmethod
        def compare_digest(a, b):
            compared.append((a, b))
            return real(a, b)

    monkeypatch.setattr(tenant_service, "hmac", SpyHmac)
    stored = ApiKey.get(ApiKey.key_id == key_parts(api_key)[0]).secret_hash
    probe = unknown_key() if kind == "unknown id" else wrong_secret(api_key)
    presented = tenant_service._hash_secret(key_parts(probe)[1])
    for _ in range(3):  # looked up, then answered from the cache: the same comparison
        assert_problem(api.get(PATH, key=probe), 401, "unauthorized")
    expected = tenant_service._UNKNOWN_KEY_HASH if kind == "unknown id" else stored
    assert compared == [(presented, expected)] * 3
    assert len(tenant_service._UNKNOWN_KEY_HASH) == len(stored)


@pytest.mark.parametrize("presented", [
    None, "", "nonsense", "ark_0123456789abcdef", "ark_0123456789ABCDEF_" + "x" * 43,
    "ark_0123456789abcdef_short", "ark_0123456789abcdef_" + "x" * 101,
    " ark_0123456789abcdef_" + "x" * 43, "ark_0123456789abcdef_" + "x" * 42 + "!",
    "Bearer ark_0123456789abcdef_" + "x" * 43,
])
def test_malformed_keys_get_the_answer_an_unknown_key_gets(api, api_key, presented):
    def answer(key):
        headers = {} if key is None else {"X-API-Key": key}
        response = api.client.get("/api/v1/ingest" + PATH, headers=headers)
        body = assert_problem(response, 401, "unauthorized")
        body.pop("request_id")
        return body, {name: value for name, value in response.headers.items()
                      if name not in ("X-Request-Id", "Content-Length")}

    unknown = answer(unknown_key())
    assert answer(presented) == unknown
    assert answer(wrong_secret(api_key)) == unknown
    assert unknown[1]["WWW-Authenticate"] == 'ApiKey header="X-API-Key"'


def test_a_key_created_after_a_failed_lookup_works_once_the_negative_ttl_passed(
        api, tenant, caching, clock):
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    key = f"ark_{key_id}_{secret}"
    assert_problem(api.get(PATH, key=key), 401, "unauthorized")
    ApiKey.create(key_id=key_id, tenant=tenant, scope="write",
                  secret_hash=tenant_service._hash_secret(secret))
    clock.now += 1.0
    assert_problem(api.get(PATH, key=key), 401, "unauthorized")  # still remembered
    clock.now += 1.01  # the 2 s have passed
    assert api.get(PATH, key=key).status_code == 404


def test_a_revoked_key_is_refused_once_the_cache_time_passed(api, api_key, caching, clock):
    assert api.get(PATH).status_code == 404
    tenant_service.revoke_api_key(key_parts(api_key)[0])
    clock.now += 4.9
    assert api.get(PATH).status_code == 404  # trusted for API_KEY_CACHE_SECONDS, as before
    clock.now += 0.11
    assert_problem(api.get(PATH), 401, "unauthorized")


def test_without_a_cache_every_request_looks_its_key_up(api, api_key):
    """API_KEY_CACHE_SECONDS 0 (the tests' setting): revocation is immediate, and failed
    keys are not remembered either."""
    probe = unknown_key()
    with key_lookups() as lookups:
        for _ in range(3):
            assert api.get(PATH).status_code == 404
            assert_problem(api.get(PATH, key=probe), 401, "unauthorized")
    assert len(lookups) == 6


def test_the_negative_ttl_is_a_setting_and_never_longer_than_the_cache(app):
    from app import create_app
    from app.config import from_environment
    assert from_environment({"API_KEY_NEGATIVE_CACHE_SECONDS": "0.5"}) == {
        "API_KEY_NEGATIVE_CACHE_SECONDS": 0.5}
    configured = create_app({"DATABASE_URL": app.config["DATABASE_URL"],
                             "API_KEY_CACHE_SECONDS": 5, "API_KEY_NEGATIVE_CACHE_SECONDS": 0.5})
    assert configured.extensions["ar_ingest_keys"]._failed.ttl == 0.5
    assert KeyAuthenticator(1.0, 2.0)._failed.ttl == 1.0
    assert KeyAuthenticator(0, 2.0)._failed is None


def test_failed_keys_cannot_push_out_the_keys_in_use(app, api, api_key, clock):
    authenticator = app.extensions["ar_ingest_keys"] = KeyAuthenticator(5.0, 2.0, 10, clock)
    assert api.get(PATH).status_code == 404
    for _ in range(50):
        assert_problem(api.get(PATH, key=unknown_key()), 401, "unauthorized")
    assert len(authenticator._failed) <= 10
    with key_lookups() as lookups:
        assert api.get(PATH).status_code == 404
    assert lookups == []


def test_threads_share_the_caches_safely(app, api_key, read_key, clock):
    authenticator = KeyAuthenticator(5.0, 2.0, 20, clock)
    keys = [api_key, read_key, wrong_secret(api_key)] + [unknown_key() for _ in range(30)]
    failures = []

    def work(offset):
        try:
            for n in range(200):
                key = keys[(offset + n) % len(keys)]
                principal = authenticator.authenticate(key)
                assert (principal is not None) == (key in (api_key, read_key)), key
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            from app.db import database
            database.close()

    with app.app_context():
        threads = [threading.Thread(target=work, args=(n * 7,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
    assert len(authenticator._failed) <= 20
