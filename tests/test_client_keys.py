"""Keys and collection names the client refuses before anything is sent: a URL cannot carry
them, and sent anyway they would read as a missing record."""
import pytest

from app.client import IngestClient


@pytest.fixture
def client(app):
    """A client whose requests the app answers in process; every request sent is recorded."""
    served = app.test_client().get("/api/v1/ingest/openapi.json").get_json()
    made = IngestClient("http://127.0.0.1:9", "ark_x_y")
    made.sent = []

    def answer(method, path, **_):
        made.sent.append((method, path))
        if (method, path) == ("GET", "/openapi.json"):
            return served
        raise AssertionError(f"{method} {path} was sent")

    made.request = answer
    yield made
    made.close()


@pytest.mark.parametrize("key", ["", ".", "..", "FA/2026/001", None])
def test_a_key_no_url_can_carry_is_refused_before_sending(client, key):
    for call in (lambda: client.accounts.get(key), lambda: client.accounts.delete(key),
                 lambda: client.documents.put(key, {"account_number": "A"}),
                 lambda: client.link(key or "R", account_number=key if key else ".")):
        with pytest.raises(ValueError, match="is not a key"):
            call()
    assert client.sent == []


def test_a_key_with_other_characters_goes_to_the_server_percent_encoded(client):
    with pytest.raises(AssertionError, match="was sent"):
        client.accounts.get("A 1?#%")
    assert client.sent == [("GET", "/accounts/A%201%3F%23%25")]


def test_an_unknown_collection_is_refused_with_the_ones_the_server_has(client):
    with pytest.raises(ValueError, match="no collection 'acounts'.*accounts, contacts"):
        client.collection("acounts")
    assert client.collection("contacts") is client.contacts
    assert client.sent == [("GET", "/openapi.json")]
