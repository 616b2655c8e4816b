"""The importer's throughput and memory, for `make bench`."""
import os
import subprocess
import sys
import time

from scenarios import contact_body

HERE = os.path.dirname(os.path.abspath(__file__))
COMMAND = os.path.join(os.path.dirname(sys.executable), "ar-ingest")


def write_contacts_csv(path, rows, prefix):
    """A CSV export of `rows` contacts of account ACCT-0, dotted headers included."""
    columns = ["reference", "account_number", "first_name", "last_name", "email", "phone",
               "language", "country", "notes", "custom_fields.crm_id"]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(columns) + "\r\n")
        for index in range(rows):
            body = contact_body(0, index, "imported")
            handle.write(f"{prefix}{index:07d},ACCT-0,{body['first_name']},"
                         f"{body['last_name']},{body['email']},{body['phone']},en,us,"
                         f"imported,{index}\r\n")


def import_rate(base_url, api_key, path, batch_size=1000):
    """Rows/s of `ar-ingest import contacts` run as a command, as a user would."""
    env = dict(os.environ, AR_INGEST_API_KEY=api_key)
    started = time.perf_counter()
    result = subprocess.run([COMMAND, "import", "contacts", path, "--url", base_url,
                             "--batch-size", str(batch_size)], env=env, capture_output=True,
                            text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(result.stdout + result.stderr)
    rows = sum(1 for _ in open(path, encoding="utf-8")) - 1
    return rows / seconds


_STUB = """
import sys, time
sys.path[:0] = {paths!r}
from app import importer

class Stub:
    def batch(self, records, atomic=False, idempotency_key=None, sync_run=None):
        return {{"results": [{{"errors": []}}] * len(records), "created": len(records),
                 "replaced": 0, "unchanged": 0, "failed": 0}}

class Client:
    def collection(self, name):
        return Stub()

    def key_fields(self):
        return {{"contacts": "reference"}}

started = time.perf_counter()
counts = importer.import_file("contacts", {path!r}, Client(), out=open("/dev/null", "w"))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, from the (large) bench process.
peak = next(int(line.split()[1]) for line in open("/proc/self/status")
            if line.startswith("VmHWM:"))
print(counts.rows, time.perf_counter() - started, peak)
"""


def importer_memory(path):
    """(rows, seconds, peak RSS in MB) of importing `path` with the server stubbed out."""
    root = os.path.dirname(HERE)
    code = _STUB.format(paths=[root], path=path)
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    return int(output[0]), float(output[1]), round(int(output[2]) / 1024, 1)
