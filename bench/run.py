"""`make bench`: throughput and latency of the real server, as ratios to baselines of the same run.

Starts gunicorn with gunicorn.conf.py on a fresh database, drives it from
several client processes over keep-alive connections, and prints each
scenario's requests/s, p50/p99 latency and its ratio to the no-op JSON route
served by the same app and settings. Figures also go to a JSON file.
"""
import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), HERE]

from load import run_load  # noqa: E402
from live_server import GunicornServer  # noqa: E402

TARGETS = {"put_new": 0.5, "put_replace": 0.5, "get": 0.7, "link_put": None, "link_list": None}
BATCH_SIZE = 1000
BATCH_TARGET = 0.7          # of the storage ceiling
FEED_RECORDS = 1_000_000
FEED_DEPTH_TARGET = 1.5     # end-of-feed page time / first page time
LINKS_PER_REPRESENTATIVE = 10_000


def contact_body(client, index, note):
    return {"account_number": f"ACCT-{client}", "first_name": "Pat", "last_name": f"Bench {index}",
            "email": f"pat.{client}.{index}@customer.example", "phone": "+1 404 555 0100",
            "language": "en", "country": "us", "notes": note,
            "custom_fields": {"crm_id": f"{client}-{index}", "score": index}}


def prepare_database(url, clients, per_client):
    """Schema, tenant, key; per client an account and a representative linked to 10,000 accounts.

    Written with bulk inserts: setting up is not what is measured.
    """
    from app import create_app
    from app.db import database
    from app.migrations import upgrade
    from app.models import Account, Representative, RepresentativeAccount
    from app.services.tenants import create_api_key, create_tenant

    create_app({"DATABASE_URL": url})
    upgrade()
    tenant = create_tenant(f"bench-{int(time.time() * 1000)}")
    key = create_api_key(tenant, name="bench")[1]
    accounts = LINKS_PER_REPRESENTATIVE + clients * per_client
    with database.atomic():
        for start in range(0, accounts, 500):
            Account.insert_many([{"tenant": tenant.id, "account_number": f"L{n:06d}",
                                  "name": f"Linked {n}"}
                                 for n in range(start, min(accounts, start + 500))]).execute()
        Account.insert_many([{"tenant": tenant.id, "account_number": f"ACCT-{c}",
                              "name": f"Client {c}"} for c in range(clients)]).execute()
        Representative.insert_many([{"tenant": tenant.id, "reference": f"REP-{c}"}
                                    for c in range(clients)]).execute()
        for c in range(clients):
            for start in range(0, LINKS_PER_REPRESENTATIVE, 500):
                RepresentativeAccount.insert_many([
                    {"tenant": tenant.id, "representative": f"REP-{c}",
                     "account_number": f"L{n:06d}"}
                    for n in range(start, start + 500)]).execute()
    database.close()
    return key


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


def storage_ceiling(url, rows_wanted):
    """Rows/s of the same contact rows written by Peewee's insert_many in one transaction,
    one process: no HTTP, no validation, no rules."""
    from app import create_app
    from app.db import database
    from app.models import Account, Contact
    from app.services.tenants import create_tenant

    create_app({"DATABASE_URL": url})
    tenant = create_tenant(f"ceiling-{int(time.time() * 1000)}")
    Account.create(tenant=tenant.id, account_number="ACCT-0", name="ceiling")
    rows = []
    for index in range(rows_wanted):
        body = contact_body(0, index, "ceiling")
        body.update(tenant=tenant.id, reference=f"CEIL-{index}", version=1,
                    email_status="valid")
        rows.append(body)
    started = time.perf_counter()
    with database.atomic():
        for start in range(0, len(rows), BATCH_SIZE):
            Contact.insert_many(rows[start:start + BATCH_SIZE]).execute()
    peewee_rate = rows_wanted / (time.perf_counter() - started)

    # The same rows again as plain tuples through one prepared INSERT: storage alone.
    fields = [field for field in Contact._meta.sorted_fields if field.name != "id"]
    sql = (f"INSERT INTO contacts ({', '.join(field.column_name for field in fields)}) "
           f"VALUES ({', '.join([database.param] * len(fields))})")
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    tuples = [[field.db_value(dict(row, reference="RAW-" + row["reference"], created_at=now,
                                   updated_at=now, change_seq=0, is_primary=False)
                              .get(field.name, field.default if not callable(field.default)
                                   else None))
               for field in fields] for row in rows]
    started = time.perf_counter()
    with database.atomic():
        cursor = database.cursor()
        for start in range(0, len(tuples), BATCH_SIZE):
            cursor.executemany(sql, tuples[start:start + BATCH_SIZE])
    raw_rate = rows_wanted / (time.perf_counter() - started)
    database.close()
    return round(peewee_rate, 1), round(raw_rate, 1)


def batch_plan(clients, batches_per_client, round_number):
    return [[("POST", "/api/v1/ingest/contacts:batch", {"items": [
        dict(contact_body(c, i, "batch"), reference=f"BATCH-{round_number}-{c}-{b}-{i}")
        for i in range(BATCH_SIZE)]}) for b in range(batches_per_client)]
        for c in range(clients)]


def fill_feed(url, count):
    """A tenant with `count` contacts written by bulk insert; returns its key and a cursor
    near the end of its feed."""
    from app import create_app
    from app.db import database
    from app.models import Account, Contact, Tenant, utcnow
    from app.services import statements
    from app.services.feed import encode_cursor
    from app.services.tenants import create_api_key, create_tenant

    create_app({"DATABASE_URL": url})
    tenant = create_tenant(f"feed-{int(time.time() * 1000)}")
    key = create_api_key(tenant, name="bench")[1]
    Account.create(tenant=tenant.id, account_number="ACCT-0", name="feed")
    now = utcnow()
    chunk = 10_000
    with database.atomic():
        for start in range(0, count, chunk):
            rows = [Contact(tenant=tenant.id, reference=f"F{n:07d}", account_number="ACCT-0",
                            name=f"Feed {n}", email=f"f{n}@example.com", email_status="valid",
                            version=1, created_at=now, updated_at=now, change_seq=n + 1,
                            custom_fields={}, is_primary=False)
                    for n in range(start, min(count, start + chunk))]
            statements.insert_rows(Contact, rows)
        Tenant.update(change_seq=count + 1).where(Tenant.id == tenant.id).execute()
    deep = next(iter(Contact.select(Contact.change_seq, Contact.id)
                     .where(Contact.tenant == tenant.id)
                     .order_by(Contact.change_seq.desc(), Contact.id.desc())
                     .limit(1).offset(150)))  # .get() would drop the offset
    cursor = encode_cursor(deep.change_seq, 0, deep.id)
    # After a bulk load, as an operator would: without fresh statistics PostgreSQL may plan
    # the run's IN-list lookups as scans of the million rows it does not know about yet.
    database.execute_sql("ANALYZE")
    database.close()
    return key, cursor


def feed_page_times(base_url, api_key, cursor, samples=40):
    """Median seconds for the first page and for a page at `cursor` (limit 100)."""
    import statistics

    import requests

    times = {"start": [], "end": []}
    with requests.Session() as http:
        http.headers["X-API-Key"] = api_key
        for _ in range(samples):
            for name, params in (("start", {"limit": 100}),
                                 ("end", {"limit": 100, "cursor": cursor})):
                started = time.perf_counter()
                response = http.get(f"{base_url}/api/v1/ingest/contacts", params=params)
                times[name].append(time.perf_counter() - started)
                assert response.status_code == 200 and len(response.json()["items"]) == 100, (
                    name, response.status_code, response.text[:300])
    return {name: statistics.median(values) for name, values in times.items()}


def median_round(rounds):
    """The round with the median throughput (its own p50/p99 come with it)."""
    ordered = sorted(rounds, key=lambda figures: figures["requests_per_s"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["rounds_requests_per_s"] = [figures["requests_per_s"] for figures in rounds]
    return chosen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", "sqlite"),
                        help="'sqlite' (a fresh temporary file) or a PostgreSQL URL")
    parser.add_argument("--requests", type=int, default=3000,
                        help="requests per scenario and round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds; each scenario reports its median round")
    parser.add_argument("--clients", type=int, default=4, help="concurrent connections")
    parser.add_argument("--batches", type=int, default=3,
                        help="batch requests (1,000 contacts) per connection and round")
    parser.add_argument("--feed-records", type=int, default=FEED_RECORDS)
    parser.add_argument("--output", default=os.path.join(HERE, "results.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        url = (f"sqlite:///{scratch}/bench.sqlite3" if args.database == "sqlite"
               else args.database)
        per_client = max(1, args.requests // args.clients)
        key = prepare_database(url, args.clients, per_client * args.rounds)
        ceiling = storage_ceiling(url, args.clients * args.batches * BATCH_SIZE)
        feed_key, deep_cursor = fill_feed(url, args.feed_records)
        rounds = {}
        with GunicornServer(url, workers=None, threads=None, worker_class=None) as server:
            run_load(server.url, key, scenarios(args.clients, per_client, 0)[0][1])  # warm-up
            for round_number in range(args.rounds):
                for name, plan in scenarios(args.clients, per_client, round_number):
                    rounds.setdefault(name, []).append(run_load(server.url, key, plan))
                rounds.setdefault("batch", []).append(run_load(
                    server.url, key, batch_plan(args.clients, args.batches, round_number),
                    items_per_request=BATCH_SIZE))
            feed_times = feed_page_times(server.url, feed_key, deep_cursor)
        results = {name: median_round(figures) for name, figures in rounds.items()}
        results["batch"]["storage_ceiling_records_per_s"] = ceiling[0]
        results["batch"]["ratio_to_ceiling"] = round(
            results["batch"]["records_per_s"] / ceiling[0], 3)
        results["batch"]["raw_executemany_records_per_s"] = ceiling[1]
        results["batch"]["ratio_to_raw_executemany"] = round(
            results["batch"]["records_per_s"] / ceiling[1], 3)
        results["feed_depth"] = {
            "records": args.feed_records,
            "first_page_ms": round(feed_times["start"] * 1000, 2),
            "end_page_ms": round(feed_times["end"] * 1000, 2),
            "ratio_end_to_start": round(feed_times["end"] / feed_times["start"], 3),
            "statuses": {"200": 80}}
        baseline = results["noop"]["requests_per_s"]
        for name in TARGETS:
            results[name]["ratio_to_noop"] = round(results[name]["requests_per_s"] / baseline, 3)

    print(f"\nar-ingest bench: {args.database.split('@')[-1]}, {args.clients} connections, "
          f"{per_client * args.clients} requests per scenario and round, median of "
          f"{args.rounds} rounds\n")
    print(f"{'scenario':<14}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'ratio':>8}{'target':>8}"
          "  statuses")
    for name, figures in results.items():
        if name in ("batch", "feed_depth"):
            continue
        ratio = figures.get("ratio_to_noop")
        target = TARGETS.get(name)
        print(f"{name:<14}{figures['requests_per_s']:>10.1f}{figures['p50_ms']:>10.2f}"
              f"{figures['p99_ms']:>10.2f}{'' if ratio is None else f'{ratio:.3f}':>8}"
              f"{'' if target is None else f'>={target}':>8}  {figures['statuses']}")
    batch = results["batch"]
    print(f"\nbatch upsert, {BATCH_SIZE} contacts per request: {batch['records_per_s']:.0f} "
          f"records/s (p50 {batch['p50_ms']:.0f} ms, p99 {batch['p99_ms']:.0f} ms); storage "
          f"ceiling {batch['storage_ceiling_records_per_s']:.0f} rows/s; ratio "
          f"{batch['ratio_to_ceiling']:.3f} (target >={BATCH_TARGET}) {batch['statuses']}")
    depth = results["feed_depth"]
    print(f"change feed, {depth['records']:,} records, limit 100: first page "
          f"{depth['first_page_ms']:.2f} ms, page at the end {depth['end_page_ms']:.2f} ms; "
          f"ratio {depth['ratio_end_to_start']:.3f} (target <={FEED_DEPTH_TARGET})")
    with open(args.output, "w") as handle:
        json.dump({"database": args.database.split("@")[-1], "clients": args.clients,
                   "rounds": args.rounds, "results": results}, handle, indent=2)
    print(f"\nwritten to {args.output}")
    failed = {name: figures["statuses"] for name, figures in results.items()
              if any(not status.startswith("2") for status in figures["statuses"])}
    if failed:
        sys.exit(f"unexpected statuses (the figures above are not valid): {failed}")


if __name__ == "__main__":
    main()
