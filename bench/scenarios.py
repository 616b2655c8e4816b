"""What the benchmark sends: request plans per client, in the order they run."""
LINKS_PER_REPRESENTATIVE = 10_000
BATCH_SIZE = 1000
API = "/api/v1/ingest"


def contact_body(client, index, note):
    return {"account_number": f"ACCT-{client}", "first_name": "Pat", "last_name": f"Bench {index}",
            "email": f"pat.{client}.{index}@customer.example", "phone": "+1 404 555 0100",
            "language": "en", "country": "us", "notes": note,
            "custom_fields": {"crm_id": f"{client}-{index}", "score": index}}


def scenarios(clients, per_client, round_number):
    """(name, requests per client) for one round; later ones read what earlier ones wrote."""
    def each(make):
        return [[make(c, i) for i in range(per_client)] for c in range(clients)]

    tag = f"{round_number}-"
    first_new_link = LINKS_PER_REPRESENTATIVE + round_number * clients * per_client
    return [
        ("noop", each(lambda c, i: ("GET", "/_noop", None))),
        ("put_new", each(lambda c, i: ("PUT", f"/api/v1/ingest/contacts/B-{tag}{c}-{i}",
                                       contact_body(c, i, "first")))),
        ("put_replace", each(lambda c, i: ("PUT", f"/api/v1/ingest/contacts/B-{tag}{c}-{i}",
                                           contact_body(c, i, "second")))),
        ("get", each(lambda c, i: ("GET", f"/api/v1/ingest/contacts/B-{tag}{c}-{i}", None))),
        ("link_put", each(lambda c, i: (
            "PUT", f"/api/v1/ingest/representatives/REP-{c}/accounts/"
                   f"L{first_new_link + c * per_client + i:06d}", None))),
        ("link_list", each(lambda c, i: (
            "GET", f"/api/v1/ingest/representatives/REP-{c}/accounts"
                   f"?limit=100&page={1 + (i * 37) % (LINKS_PER_REPRESENTATIVE // 100)}", None))),
    ]


def batch_plan(clients, batches_per_client, round_number, sync_run=None, note="batch"):
    """Batches of new contacts; with `sync_run`, each marks its records seen by that run."""
    extra = ({"Sync-Run": sync_run},) if sync_run else ()
    return [[("POST", "/api/v1/ingest/contacts:batch", {"items": [
        dict(contact_body(c, i, note), reference=f"BATCH-{round_number}-{c}-{b}-{i}")
        for i in range(BATCH_SIZE)]}, *extra) for b in range(batches_per_client)]
        for c in range(clients)]


def patch_plan(clients, per_client, round_number):
    """PATCH one field of the contacts put_new created in this round."""
    return [[("PATCH", f"{API}/contacts/B-{round_number}-{c}-{i}",
              {"notes": f"patched {round_number}"}) for i in range(per_client)]
            for c in range(clients)]


def at_scale_plans(clients, per_client, stored, round_number):
    """PUT new, PUT replace and GET among a tenant's `stored` bulk-loaded contacts."""
    def pick(c, i):  # spread over the whole key range
        return f"F{((c * per_client + i) * 7919 + round_number * 104729) % stored:07d}"

    def each(make):
        return [[make(c, i) for i in range(per_client)] for c in range(clients)]

    return [
        ("put_new", each(lambda c, i: ("PUT", f"{API}/contacts/M-{round_number}-{c}-{i}",
                                       contact_body(c, i, "at scale")))),
        ("put_replace", each(lambda c, i: ("PUT", f"{API}/contacts/{pick(c, i)}",
                                           dict(contact_body(0, 0, f"r{round_number}"),
                                                account_number="ACCT-0")))),
        ("get", each(lambda c, i: ("GET", f"{API}/contacts/{pick(c, i)}", None))),
    ]


def memory_plan(clients, requests_total, keys):
    """A long mixed run (GET, PUT replace, link page) over existing keys."""
    per_client = requests_total // clients
    plan = []
    for c in range(clients):
        calls = []
        for i in range(per_client):
            key = keys[(c * per_client + i) % len(keys)]
            kind = i % 4
            if kind == 3:
                calls.append(("PUT", f"{API}/contacts/{key}",
                              contact_body(c, i, f"memory {i % 50}")))
            elif kind == 2:
                calls.append(("GET", f"{API}/representatives/REP-{c}/accounts?page={1 + i % 90}",
                              None))
            else:
                calls.append(("GET", f"{API}/contacts/{key}", None))
        plan.append(calls)
    return plan


FIRST_NAMES = ("Ann", "Bob", "Chloé", "Dmitri", "Eve", "Françoise", "Gus", "Hiroshi", "Ines",
               "Jan", "Kwame", "Lea", "Maximilian", "Noor", "Olu", "Priya", "Quentin", "Ravi",
               "Siobhán", "Tom", "Ulla", "Vikram", "Wen", "Xavier", "Yusuf", "Zoë")
LAST_NAMES = ("Li", "Smith", "Okafor", "Nakamura", "Fernández", "Kowalczyk", "Ng", "Johansson",
              "Abernathy-Clarke", "Dubois", "Schmidt", "Van der Berg", "Ó Briain", "Patel")
MATCH_ACCOUNT = "MATCH-ACCT"
MATCH_CONTACTS = 1000
MATCH_REPRESENTATIVES = 100_000


def person_name(index):
    """Varied, realistic full names; unique by the number in the middle."""
    return (f"{FIRST_NAMES[index % len(FIRST_NAMES)]} {index} "
            f"{LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)]}")


def with_typo(name):
    """The name with one letter changed, as a source without references would send it."""
    position = len(name) // 2
    return name[:position] + ("x" if name[position] != "x" else "y") + name[position + 1:]


def matching_plans(clients, per_client, round_number):
    """Matching upserts by a slightly misspelt name: one of the account's 1,000 contacts, and
    one of the tenant's 100,000 representatives (then linked to the client's account)."""
    def each(make):
        return [[make(c, i) for i in range(per_client)] for c in range(clients)]

    def pick(c, i, among):
        return ((c * per_client + i) * 7919 + round_number * 104729) % among

    return [
        ("match_contact", each(lambda c, i: (
            "PUT", f"{API}/accounts/{MATCH_ACCOUNT}/contacts/upsert",
            {"name": with_typo(person_name(pick(c, i, MATCH_CONTACTS))),
             "title": f"t{round_number}-{c}-{i}"}))),
        ("match_representative", each(lambda c, i: (
            "PUT", f"{API}/accounts/ACCT-{c}/representatives/upsert",
            {"name": with_typo(person_name(pick(c, i, MATCH_REPRESENTATIVES))),
             "title": f"t{round_number}-{c}-{i}"}))),
    ]


def email_event_plan(clients, requests_per_client, stored, round_number, size=1000):
    """POST /email-events with `size` bounces each, for addresses among `stored` contacts."""
    return [[("POST", f"{API}/email-events", {"events": [
        {"email": f"f{((c * requests_per_client + r) * size + e) * 7 % stored}@example.com",
         "type": "bounced", "occurred_at": f"2026-01-01T00:{round_number:02d}:00Z"}
        for e in range(size)]}) for r in range(requests_per_client)] for c in range(clients)]
