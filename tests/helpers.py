"""Helpers the tests share: an API client, problem assertions, statement counts, Redis."""
import logging
import os
from contextlib import contextmanager

from app.api import API_PREFIX


def redis_url():
    """TEST_REDIS_URL, or the local Redis (database 15) when it answers; None otherwise."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    if not url:
        return None
    try:
        import redis
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except Exception:
        return None
    return url


def patient_redis_url():
    """redis_url() with socket timeouts of 30 s instead of the limiter's 0.25 s.

    The limiter fails open when Redis is slow to answer, by design; on a busy machine a
    round trip can take longer than 0.25 s, and a test that counts what the limit let
    through would then see extra requests pass. Tests of counting use this URL (redis-py
    lets its query override the limiter's options); tests of failing open do not."""
    url = redis_url()
    if url is None:
        return None
    return url + ("&" if "?" in url else "?") + "socket_timeout=30&socket_connect_timeout=30"


@contextmanager
def own_rate_limit_counts(api_key):
    """Inside the block this key's rate-limit counts in Redis are its own; they are removed
    after it. Never FLUSHDB instead: the Redis database is shared by every test session on
    the machine, and flushing it mid-way through another session's count lets that
    session's requests through (each key's counts are apart anyway: key ids are random)."""
    import redis
    storage = redis.Redis.from_url(redis_url())
    pattern = f"ar-ingest:{key_parts(api_key)[0]}:*"
    assert not list(storage.scan_iter(pattern))  # a new key starts from nothing
    try:
        yield
    finally:
        for name in list(storage.scan_iter(pattern)):
            storage.delete(name)


class ApiClient:
    """The Flask test client with an API key and the API prefix applied."""

    def __init__(self, client, key):
        self.client = client
        self.key = key

    def request(self, method, path, json=None, headers=None, key=None, **kwargs):
        """key=None: this client's key; key="": no key at all."""
        chosen = self.key if key is None else key
        sent = {"X-API-Key": chosen} if chosen else {}
        sent.update(headers or {})
        if json is not None:
            kwargs["json"] = json
        return self.client.open(API_PREFIX + path, method=method, headers=sent, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path, json=None, **kwargs):
        return self.request("PUT", path, json=json, **kwargs)

    def patch(self, path, json=None, **kwargs):
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)


def assert_problem(response, status, code, pointers=None):
    """The response is problem+json with this status and code (and these error pointers)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert body["title"] and body["detail"]
    assert body["request_id"] == response.headers["X-Request-Id"]
    if pointers is not None:
        assert sorted(e["pointer"] for e in body.get("errors", [])) == sorted(pointers), body
    return body


def key_parts(api_key):
    """(key id, secret) of an `ark_<id>_<secret>` key; the secret may itself hold '_'."""
    _, key_id, secret = api_key.split("_", 2)
    return key_id, secret


class _CountStatements(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record):
        self.count += 1


def count_statements(call):
    """How many SQL statements `call()` ran (Peewee logs each); its response must be 200."""
    logger = logging.getLogger("peewee")
    handler, level = _CountStatements(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        response = call()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert response.status_code == 200, response.get_data(as_text=True)
    return handler.count


def operation_parameters(document, operation):
    """An operation's parameters, each shared one ($ref) read from the components."""
    shared = document["components"].get("parameters", {})
    return [shared[parameter["$ref"].rsplit("/", 1)[1]] if "$ref" in parameter else parameter
            for parameter in operation.get("parameters", [])]
