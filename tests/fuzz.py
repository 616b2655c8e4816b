"""`make fuzz`: Schemathesis with many examples against a fresh SQLite database (or --database).

`--no-config` runs it with Schemathesis's own defaults alone, without
tests/schemathesis.toml: every disagreement it then reports should fall in
one of the deliberate categories that file lists.
"""
import argparse
import os
import sys
import tempfile

sys.path[:0] = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                os.path.dirname(os.path.abspath(__file__))]

from live_server import GunicornServer  # noqa: E402
from test_fuzz import CONFIG, run_schemathesis  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--max-examples", type=int, default=200)
    parser.add_argument("--max-time", type=int, default=None, help="seconds for the whole run")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-config", action="store_true",
                        help="Schemathesis's defaults alone, without tests/schemathesis.toml")
    args = parser.parse_args()
    from app import create_app
    from app.migrations import upgrade
    from app.services.tenants import create_api_key, create_tenant

    with tempfile.TemporaryDirectory() as scratch:
        url = args.database if args.database != "sqlite" else f"sqlite:///{scratch}/fuzz.sqlite3"
        create_app({"DATABASE_URL": url})
        upgrade()
        import time
        key = create_api_key(create_tenant(f"fuzz-{time.time()}", ["acme.example"]))[1]
        with GunicornServer(url, workers=2) as server:
            result = run_schemathesis(server.url, key, args.max_examples, seed=args.seed,
                                      max_time=args.max_time, workers=args.workers,
                                      config=None if args.no_config else CONFIG)
    print(result.stdout)
    print(result.stderr, file=sys.stderr)
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
