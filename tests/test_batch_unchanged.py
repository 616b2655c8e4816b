"""Unchanged re-sends are the cheap case: an item whose body made the record's current version
is answered unchanged without being loaded; anything that moved the record loads it again."""
import pytest

from app.resources.contacts import Contact, CONTACTS
from app.services import batch, writes

ITEMS = [{"reference": f"C{n}", "name": f"Pat {n}", "email": f"pat{n}@customer.example",
          "custom_fields": {"score": n}} for n in range(3)]


@pytest.fixture
def loads(monkeypatch):
    """How many items the contacts resource loads (marshmallow) from here on."""
    counted = {"items": 0}
    original = type(CONTACTS).load_batch_item

    def counting(self, raw):
        counted["items"] += 1
        return original(self, raw)
    monkeypatch.setattr(type(CONTACTS), "load_batch_item", counting)
    return counted


def statuses(body):
    return [(r["reference"], r["status"], r["version"]) for r in body["results"]]


def send(api, items, **kwargs):
    response = api.post("/contacts:batch", json={"items": items}, **kwargs)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_resent_batch_is_unchanged_without_loading_an_item(api, loads):
    send(api, ITEMS)
    assert loads["items"] == 3
    reordered = [dict(reversed(list(item.items()))) for item in ITEMS]  # key order aside
    body = send(api, reordered)
    assert loads["items"] == 3
    assert statuses(body) == [("C0", 200, 1), ("C1", 200, 1), ("C2", 200, 1)]
    assert (body["created"], body["replaced"], body["unchanged"]) == (0, 0, 3)
    assert [c.version for c in Contact.select().order_by(Contact.reference)] == [1, 1, 1]


def test_a_record_moved_since_is_loaded_and_written_again(api, loads):
    send(api, ITEMS)
    api.patch("/contacts/C1", json={"name": "Renamed"})          # version 2, its own change
    api.post("/contacts/C2/archive")                              # archived: a PUT revives it
    body = send(api, ITEMS)
    assert loads["items"] == 3 + 2
    assert statuses(body) == [("C0", 200, 1), ("C1", 200, 3), ("C2", 200, 3)]
    stored = {c.reference: c for c in Contact.select()}
    assert stored["C1"].name == "Pat 1" and stored["C2"].archived_at is None
    assert send(api, ITEMS)["unchanged"] == 3 and loads["items"] == 5


def test_a_different_body_of_the_same_values_is_checked_then_remembered(api, loads):
    api.put("/contacts/C0", json={"name": "Pat 0", "email": "pat0@customer.example",
                                  "custom_fields": {"score": 0}})
    same_values = [dict(ITEMS[0], notes=None)]                    # null: the default
    assert statuses(send(api, same_values)) == [("C0", 200, 1)]
    assert loads["items"] == 1
    assert Contact.get().input_digest == f"1:{writes.input_digest(same_values[0])}"
    assert send(api, same_values)["unchanged"] == 1 and loads["items"] == 1
    assert send(api, ITEMS[:1])["unchanged"] == 1 and loads["items"] == 2  # its own digest
    assert Contact.get().version == 1


def test_new_input_rules_load_every_item_again(api, loads, monkeypatch):
    send(api, ITEMS)
    monkeypatch.setattr(writes, "INPUT_RULES", writes.INPUT_RULES + 1)
    assert send(api, ITEMS)["unchanged"] == 3 and loads["items"] == 6


def test_a_record_changed_between_the_first_look_and_the_lock_is_loaded(api, loads, monkeypatch):
    """The digests read before the transaction are only a hint: under the key lock the
    engine reads them again, and loads an item whose record moved in between."""
    send(api, ITEMS[:1])
    stale = batch._stored_stamps(CONTACTS, Contact.get().tenant_id, ITEMS[:1])
    api.patch("/contacts/C0", json={"name": "Changed meanwhile"})
    monkeypatch.setattr(batch, "_stored_stamps", lambda *args: stale)
    body = send(api, ITEMS[:1])
    assert statuses(body) == [("C0", 200, 3)] and loads["items"] == 2
    assert Contact.get().name == "Pat 0"


def test_an_atomic_batch_with_a_failure_stores_nothing_beside_unchanged_items(api, loads):
    send(api, ITEMS)
    response = api.post("/contacts:batch?atomic=true", json={"items": [
        ITEMS[0], dict(ITEMS[1], name="New name"), {"reference": "BAD", "email": "nope"}]})
    assert response.status_code == 422
    assert Contact.get(Contact.reference == "C1").name == "Pat 1"
    assert not Contact.select().where(Contact.reference == "BAD").exists()


def test_the_same_key_twice_is_refused_even_when_unchanged(api):
    send(api, ITEMS[:1])
    body = send(api, [ITEMS[0], ITEMS[0]])
    assert [r["status"] for r in body["results"]] == [200, 422]
    assert body["results"][1]["errors"][0]["pointer"] == "#/items/1/reference"


def test_a_number_is_never_taken_for_the_string_of_its_digits(api):
    send(api, [{"reference": "C0", "name": "1.50", "custom_fields": {"score": "7"}}])
    body = send(api, [{"reference": "C0", "name": 1.50, "custom_fields": {"score": "7"}}])
    assert body["results"][0]["status"] == 422
    body = send(api, [{"reference": "C0", "name": "1.50", "custom_fields": {"score": 7}}])
    assert (body["replaced"], Contact.get().custom_fields) == (1, {"score": 7})


@pytest.mark.parametrize("key", ["a\x00b", "\ud800x", "x" * 5000, "a/b", ["x"], {"a": 1}, 5, True])
def test_an_unusable_key_is_its_items_422_before_any_digest_is_read(api, key):
    body = send(api, [{"reference": key, "name": "N"}, ITEMS[0]])
    assert [r["status"] for r in body["results"]] == [422, 201]
    assert body["results"][0]["errors"][0]["pointer"] == "#/items/0/reference"


def test_an_item_moved_by_an_earlier_item_of_the_same_batch_is_applied(api, loads):
    """Found by a black-box review: the digest said "unchanged", but an earlier item of the
    batch had taken the primary flag from the record; the last primary must win."""
    api.put("/accounts/V1", json={"name": "V"})
    k1 = {"reference": "K1", "account_number": "V1", "name": "Kay One", "is_primary": True}
    send(api, [k1])
    body = send(api, [{"reference": "K9", "account_number": "V1", "name": "Kay Nine",
                       "is_primary": True}, k1])
    assert statuses(body) == [("K9", 201, 1), ("K1", 200, 3)]
    stored = {c.reference: (c.version, c.is_primary) for c in Contact.select()}
    assert stored == {"K1": (3, True), "K9": (2, False)}
    again = send(api, [{"reference": "K9", "account_number": "V1", "name": "Kay Nine",
                        "is_primary": True}, k1])  # the same batch again: the same end
    assert statuses(again) == [("K9", 200, 3), ("K1", 200, 5)]
    assert {c.reference: (c.version, c.is_primary) for c in Contact.select()} == {
        "K1": (5, True), "K9": (4, False)}


@pytest.mark.parametrize("key", ["", None])
def test_an_empty_key_says_a_key_is_required(api, key):
    body = send(api, [{"reference": key, "name": "N"}])
    assert body["results"][0]["errors"] == [{"pointer": "#/items/0/reference", "detail":
                                              "A key is required: 1 to 128 characters, "
                                              "not empty or null."}]


@pytest.mark.parametrize("depth", [300, 600, 900])
def test_an_item_nested_near_the_parsers_limit_is_refused_never_a_500(api, depth):
    """Too deep to digest is simply no digest: the item is loaded and refused on its own
    (or the body as too deeply nested), as before digests."""
    nested = "1"
    for _ in range(depth):
        nested = '{"a":' + nested + '}'
    response = api.post("/contacts:batch", data='{"items":[{"reference":"R","name":"n",'
                        f'"custom_fields":{nested}}}]}}', content_type="application/json")
    assert response.status_code in (200, 400), response.get_data(as_text=True)[:300]
    if response.status_code == 200:
        assert response.get_json()["results"][0]["status"] == 422
