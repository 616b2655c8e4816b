"""Retries of the client and the importer: 409 idempotency-key-in-use, lost connections, 503,
a server restart mid-batch, and --resume after the retries ran out."""
import http.server
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import requests

from app.client import Conflict, IngestClient
from app.resources.accounts import Account
from live_server import GunicornServer, free_port

pytestmark = pytest.mark.slow
COMMAND = [os.path.join(os.path.dirname(sys.executable), "ar-ingest"), "import"]
IN_USE = ("answer", 409, "idempotency-key-in-use", "1")
UNAVAILABLE = ("answer", 503, "internal-error", "1")
HANG_UP = ("hang-up",)   # forwarded: the server does the work, the answer is lost
DROP = ("drop",)         # the connection breaks before the server sees the request


class ScriptedProxy:
    """In front of the real server: request number n (1 = the first) gets `script[n]` instead
    of the server's answer: ("answer", status, code, Retry-After or None) as problem details
    the way the server writes them, HANG_UP, DROP, or ("call", function): forwarded while
    function() runs, then the connection is closed unanswered. The OpenAPI document, which a
    client reads once for its key fields, passes through uncounted."""

    def __init__(self, upstream, script=None):
        self.upstream, self.script = upstream, dict(script or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen = []  # (method, path, Idempotency-Key, what was done)
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.endswith("/openapi.json"):
                    answer = self._forward(body)
                    self.send_response(answer.status_code)
                    self.send_header("Content-Type", answer.headers["Content-Type"])
                    self.send_header("Content-Length", str(len(answer.content)))
                    self.end_headers()
                    self.wfile.write(answer.content)
                    return None
                with proxy.lock:
                    action = proxy.script.get(len(proxy.seen) + 1, ("forward",))
                    proxy.seen.append((self.command, self.path,
                                       self.headers.get("Idempotency-Key"), action[0]))
                if action[0] == "answer":
                    return self._answer(*action[1:])
                if action[0] == "drop":
                    return self._hang_up()
                if action[0] == "call":
                    threading.Thread(target=self._forward, args=(body,), daemon=True).start()
                    time.sleep(0.1)
                    action[1]()
                    return self._hang_up()
                answer = self._forward(body)
                if answer is None or action[0] == "hang-up":
                    return self._hang_up()
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("connection", "keep-alive", "transfer-encoding",
                                            "content-length", "content-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def _forward(self, body):
                headers = {name: value for name, value in self.headers.items()
                           if name.lower() not in ("host", "content-length")}
                try:
                    return requests.request(self.command, proxy.upstream + self.path,
                                            data=body, headers=headers, timeout=60)
                except requests.ConnectionError:
                    return None

            def _answer(self, status, code, retry_after):
                payload = json.dumps({"type": f"/problems/{code}", "status": status,
                                      "code": code, "detail": "scripted"}).encode()
                self.send_response(status)
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Type", "application/problem+json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _hang_up(self):
                self.close_connection = True
                self.connection.close()

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def keys(self, method="POST"):
        """The Idempotency-Key of every request with that method, in order."""
        return [key for seen_method, _, key, _ in self.seen if seen_method == method]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def server(database_url, _schema):
    with GunicornServer(database_url, workers=2, threads=2) as running:
        yield running


def run_import(url, key, *args, timeout=240):
    env = dict(os.environ, AR_INGEST_API_KEY=key)
    return subprocess.run(COMMAND + list(args) + ["--url", url], env=env, capture_output=True,
                          text=True, timeout=timeout)


def write_accounts(path, count, prefix):
    path.write_text("account_number,name\n" + "".join(
        f"{prefix}-{number:04d},Name {number}\n" for number in range(count)))
    return str(path)


def stored(prefix):
    return Account.select().where(Account.account_number.startswith(prefix + "-")).count()


def test_the_client_retries_a_key_in_use_with_the_same_key(server, api_key):
    items = [{"account_number": f"USE-{n}", "name": "x"} for n in range(5)]
    with ScriptedProxy(server.url, {1: IN_USE, 2: IN_USE, 3: IN_USE}) as proxy, \
            IngestClient(proxy.url, api_key, backoff_factor=0.05) as client:
        started = time.monotonic()
        answer = client.accounts.batch(items)
        waited = time.monotonic() - started
    assert answer["created"] == 5 and stored("USE") == 5
    keys = proxy.keys()
    assert len(keys) == 4 and len(set(keys)) == 1  # one key: the server runs the batch once
    assert waited >= 3 - 0.1                          # Retry-After: 1, honoured each time


def test_a_key_in_use_for_too_long_ends_with_conflict_in_bounded_time(server, api_key):
    with ScriptedProxy(server.url, {n: IN_USE for n in range(1, 50)}) as proxy, \
            IngestClient(proxy.url, api_key, retries=2, backoff_factor=0.05) as client:
        started = time.monotonic()
        with pytest.raises(Conflict) as refused:
            client.accounts.batch([{"account_number": "NEVER", "name": "x"}])
    assert refused.value.code == "idempotency-key-in-use"
    assert len(proxy.seen) == 3 and time.monotonic() - started < 10


def test_a_conflict_without_retry_after_is_not_retried(server, api_key):
    with ScriptedProxy(server.url) as proxy, IngestClient(proxy.url, api_key) as client:
        client.accounts.put("ONCE", {"name": "x"})
        with pytest.raises(Conflict) as refused:
            client.accounts.create("ONCE", {"name": "again"})
    assert refused.value.code == "conflict"
    assert [method for method, *_ in proxy.seen] == ["PUT", "POST"]


def test_the_importer_waits_out_a_key_in_use(server, api_key, tmp_path):
    source = write_accounts(tmp_path / "in-use.csv", 50, "IU")
    with ScriptedProxy(server.url, {3: IN_USE, 4: IN_USE, 5: IN_USE}) as proxy:
        result = run_import(proxy.url, api_key, "accounts", source, "--batch-size", "10")
    assert result.returncode == 0, result.stderr
    assert "50 rows" in result.stdout and "50 created" in result.stdout
    assert stored("IU") == 50
    keys = proxy.keys()
    assert len(keys) == 8 and len(set(keys[2:6])) == 1 and len(set(keys)) == 5


def test_the_importer_rides_out_lost_connections_and_503(server, api_key, tmp_path):
    source = write_accounts(tmp_path / "flaky.csv", 60, "FL")
    script = {2: HANG_UP, 4: UNAVAILABLE, 5: DROP, 6: HANG_UP, 9: UNAVAILABLE}
    with ScriptedProxy(server.url, script) as proxy:
        result = run_import(proxy.url, api_key, "accounts", source, "--batch-size", "10")
    assert result.returncode == 0, result.stderr
    assert "60 created" in result.stdout and "0 rejected" in result.stdout
    assert stored("FL") == 60
    assert [a.version for a in Account.select().where(
        Account.account_number.startswith("FL-"))] == [1] * 60
    keys = proxy.keys()
    assert len(set(keys)) == 6 and keys[1] == keys[2] and keys[3] == keys[4] == keys[5] == keys[6]


def test_resume_after_the_retries_ran_out(server, api_key, tmp_path):
    source = write_accounts(tmp_path / "gave-up.csv", 50, "GU")
    checkpoint = source + ".checkpoint.json"
    with ScriptedProxy(server.url, {3: UNAVAILABLE, 4: UNAVAILABLE}) as proxy:
        failed = run_import(proxy.url, api_key, "accounts", source, "--batch-size", "10",
                            "--retries", "1")
        assert failed.returncode == 1 and "503" in failed.stderr
        assert json.load(open(checkpoint))["counts"]["last_line"] == 21  # two batches in
        assert stored("GU") == 20
        resumed = run_import(proxy.url, api_key, "accounts", source, "--batch-size", "10",
                             "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "50 rows (20 before --resume, 30 in" in resumed.stdout
    assert "50 created" in resumed.stdout  # the counts of both runs, each row once
    assert stored("GU") == 50 and not os.path.exists(checkpoint)
    assert len(proxy.seen) == 4 + 3  # the acknowledged batches were not sent again


def test_the_importer_rides_out_a_server_restart_mid_batch(database_url, _schema, api_key,
                                                           tmp_path):
    source = write_accounts(tmp_path / "restart.csv", 3000, "RS")
    first = GunicornServer(database_url, workers=1, threads=2).start()
    second = GunicornServer(database_url, workers=1, threads=2)
    second.port, second.url = first.port, first.url
    second.env["BIND"] = f"127.0.0.1:{first.port}"

    def restart():
        first.kill()  # a power cut while the batch runs: its key may stay claimed
        second.start()

    try:
        with ScriptedProxy(first.url, {2: ("call", restart)}) as proxy:
            result = run_import(proxy.url, api_key, "accounts", source)
    finally:
        first.stop()
        second.stop()
    assert result.returncode == 0, result.stderr
    assert "3,000 created" in result.stdout
    assert stored("RS") == 3000
    keys = proxy.keys()
    assert len(keys) >= 4 and keys[1] == keys[2]  # the interrupted batch, re-sent as it was
