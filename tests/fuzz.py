"""`make fuzz`: Schemathesis with many examples against a fresh SQLite database (or --database)."""
import argparse
import os
import sys
import tempfile

sys.path[:0] = [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                os.path.dirname(os.path.abspath(__file__))]

from live_server import GunicornServer  # noqa: E402
from test_fuzz import run_schemathesis  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--max-examples", type=int, default=200)
    parser.add_argument("--max-time", type=int, default=None, help="seconds for the whole run")
    args = parser.parse_args()
    from app import create_app
    from app.migrations import upgrade
    from app.services.tenants import create_api_key, create_tenant

    with tempfile.TemporaryDirectory() as scratch:
        url = args.database if args.database != "sqlite" else f"sqlite:///{scratch}/fuzz.sqlite3"
        create_app({"DATABASE_URL": url})
        upgrade()
        import time
        key = create_api_key(create_tenant(f"fuzz-{time.time()}"))[1]
        with GunicornServer(url, workers=2) as server:
            result = run_schemathesis(server.url, key, args.max_examples, max_time=args.max_time)
    print(result.stdout)
    print(result.stderr, file=sys.stderr)
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
