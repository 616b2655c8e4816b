"""Batch matching upserts through gunicorn: concurrent overlapping batches, the client's
upsert_many and the importer's --match mode."""
import concurrent.futures
import os
import random
import string
import subprocess
import sys

import pytest

from app.client import IngestClient
from app.resources.contacts import Contact
from app.resources.representatives import Representative
from live_server import GunicornServer

pytestmark = pytest.mark.slow
COMMAND = [os.path.join(os.path.dirname(sys.executable), "ar-ingest"), "import"]


@pytest.fixture(scope="module")
def server(database_url, _schema):
    with GunicornServer(database_url, workers=2, threads=4,
                        env={"BULK_REQUESTS_PER_TENANT": "0"}) as running:
        yield running


@pytest.fixture
def client(server, api_key, api):
    for number in ("A1", "A2"):
        assert api.put(f"/accounts/{number}", json={"name": number}).status_code == 201
    with IngestClient(server.url, api_key, retries=3) as running:
        yield running


def distinct_names(count, seed):
    """Names far apart from each other (random letters), so only the intended ones match."""
    chance = random.Random(seed)
    word = lambda: "".join(chance.choice(string.ascii_lowercase) for _ in range(7)).title()
    return [f"{word()} {word()}" for _ in range(count)]


def test_eight_concurrent_overlapping_batches_create_each_person_once(client):
    # Every batch names the same 60 new people, each batch in its own order; half the
    # batches spell every name one edit apart and send no email, the others send the email.
    names = distinct_names(60, 1)
    people = [{"account_number": "A1" if n % 2 else "A2", "name": name, "language": "en",
               "email": f"p{n}@customer.example"} for n, name in enumerate(names)]
    renamed = [dict(person, name=person["name"][:5] + "q" + person["name"][6:], email=None)
               for person in people]

    def send(worker):
        items = (people if worker % 2 else renamed)[worker:] + \
            (people if worker % 2 else renamed)[:worker]
        return list(client.upsert_many("contacts", items))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))
    assert all(result["errors"] == [] for answer in answers for result in answer)
    assert Contact.select().count() == 60
    created = sum(result["status"] == 201 for answer in answers for result in answer)
    assert created == 60  # each person created by exactly one item of one batch
    # the representatives' rule is tenant-wide: the same through /representatives:upsert
    staff = [{"name": name, "language": "en"} for name in distinct_names(30, 2)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda w: list(client.upsert_many(
            "representatives", staff[w:] + staff[:w])), range(8)))
    assert Representative.select().count() == 30


def test_upsert_many_chunks_and_counts_pointers_from_the_first_person(client):
    people = [{"account_number": "A1", "name": f"Chunked Person{n:03d}", "language": "en"}
              for n in range(25)]
    people[21] = {"account_number": "A1", "name": "No Language Here"}
    results = list(client.upsert_many("contacts", people, chunk_size=10))
    assert len(results) == 25 and results[21]["status"] == 422
    assert results[21]["errors"][0]["pointer"] == "#/items/21/language"
    dry = list(client.upsert_many("contacts", people[:3], dry_run=True))
    assert [r["status"] for r in dry] == [200, 200, 200]
    with pytest.raises(ValueError):
        list(client.upsert_many("accounts", people))


def run_import(url, key, *args):
    env = dict(os.environ, AR_INGEST_API_KEY=key)
    return subprocess.run(COMMAND + list(args) + ["--url", url], env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_importer_matches_people_of_a_file_without_references(client, server, api_key,
                                                                  tmp_path, api):
    api.put("/contacts/C1", json={"account_number": "A1", "name": "Zoë Müller",
                                  "language": "de", "email": "zoe@kunde.example"})
    api.put("/contacts/C2", json={"account_number": "A1", "name": "Ann Lee", "language": "en",
                                  "email": "ann@kunde.example"})
    source = tmp_path / "crm export.csv"
    source.write_bytes(  # an empty cell is left out: a match keeps what it has
        "\ufeffaccount_number;name;email;language;title\r\n"
        "A1;Zoe Muller;ZOE@kunde.example;de;Buchhaltung\r\n"  # C1, by email: all applied
        "A1;Ann Le;;en;CFO\r\n"                               # C2, by name: its name kept
        "A2;Grace Hopper;grace@navy.example;en;\r\n"          # a new contact
        "A2;Grace Hoper;grace@navy.example;en;Rear Admiral\r\n"  # the one just created
        "A1;Nameless;;;\r\n".encode("utf-8"))                  # no language: cannot create
    result = run_import(server.url, api_key, "contacts", str(source), "--match")
    assert result.returncode == 1, result.stderr
    assert "5 rows" in result.stdout and "1 created" in result.stdout
    assert "3 updated" in result.stdout and "1 rejected" in result.stdout
    zoe = Contact.get(Contact.reference == "C1")
    assert (zoe.name, zoe.title, zoe.email) == ("Zoe Muller", "Buchhaltung", "ZOE@kunde.example")
    ann = Contact.get(Contact.reference == "C2")
    assert (ann.name, ann.title, ann.email) == ("Ann Lee", "CFO", "ann@kunde.example")
    grace = Contact.get(Contact.account_number == "A2")
    assert (grace.name, grace.title, grace.version) == ("Grace Hoper", "Rear Admiral", 2)
    rejects = (tmp_path / "crm export.csv.rejects.csv").read_text("utf-8-sig")
    assert "Nameless" in rejects and "language: Creating a contact needs a language" in rejects
    assert "Grace" not in rejects
    again = run_import(server.url, api_key, "contacts", str(source), "--match", "--allow-rejects")
    assert again.returncode == 0 and "0 created" in again.stdout, again.stderr
    assert Contact.select().count() == 3
    refused = run_import(server.url, api_key, "accounts", str(source), "--match")
    assert refused.returncode != 0 and "--match is for contacts" in refused.stderr
