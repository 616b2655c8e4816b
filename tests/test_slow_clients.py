"""The production deployment (deploy/serve.py: nginx in front of gunicorn) under slow clients.

gunicorn alone gives a gthread thread to each connection while it reads the request head:
50 sockets sending a header line every 5 s and 10 silent ones, against 4 workers of 4
threads, left a client that opens a connection per request 4 answers out of 10 in 30 s
(bench/slow_clients.py). Behind nginx the same clients get every answer, and nginx closes
each slow socket when client_header_timeout (10 s) runs out; gunicorn never sees them.
"""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from live_server import ROOT, ServedDeployment, free_port, serve
from slow_sockets import SlowSockets, normal_traffic, prepare_normal_records

pytestmark = pytest.mark.slow
BASE = "/api/v1/ingest"
HEADER_TIMEOUT = 10  # client_header_timeout in deploy/nginx.conf
MAX_BODY = 32 * 1024 * 1024  # MAX_BATCH_BODY_BYTES, nginx's client_max_body_size

@pytest.fixture(scope="module")
def deployment(nginx, database_url, _schema):
    server = ServedDeployment(database_url, workers=2, threads=4).start()
    yield server
    code = server.stop()
    assert code == 0, "SIGTERM should stop nginx, then gunicorn, cleanly: " + server.log_tail()


def _exchange(port, raw, timeout=10):
    """Send raw bytes, read one answer (to its Content-Length, else until the server closes);
    (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        received, headers = b"", None
        while True:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not data:
                break
            received += data
            head, blank, body = received.partition(b"\r\n\r\n")
            if blank and headers is None:
                lines = head.decode("latin-1").split("\r\n")
                headers = {name.lower(): value.strip()
                           for name, _, value in (line.partition(":") for line in lines[1:])}
            if headers and len(body) >= int(headers.get("content-length", sys.maxsize)):
                break
    return int(lines[0].split()[1]), headers, body


def _nginx_problem(status, headers, body, code):
    """A problem nginx answered itself, in the app's shape."""
    assert headers["content-type"] == "application/problem+json", (status, headers, body)
    problem = json.loads(body)
    assert problem["status"] == status and problem["code"] == code, problem
    assert problem["type"] == f"/problems/{code}" and problem["title"] and problem["detail"]
    assert set(problem) == {"type", "title", "status", "detail", "instance", "code",
                            "request_id"}
    assert problem["request_id"] == headers["x-request-id"]
    return problem


def test_slow_and_silent_clients_hold_no_worker(deployment, tenant, api_key):
    """50 slow and 10 silent sockets for 30 s against 2 workers of 4 threads: two ETL clients
    (one kept-alive connection, one new connection per request) get every answer, each within
    its 5 s timeout, and nginx closes each slow socket when its head is 10 s late."""
    prepare_normal_records(deployment.url, api_key)
    sockets = SlowSockets("127.0.0.1", deployment.port, slow=50, silent=10, interval=2).start()
    time.sleep(1)  # every socket is open
    with ThreadPoolExecutor(2) as pool:
        clients = [pool.submit(normal_traffic, deployment.url, api_key, 30, keep_alive)
                   for keep_alive in (True, False)]
        results = [result for client in clients for result in client.result()]
    stopped = time.monotonic()
    attempts = sockets.stop()

    failed = [result for result in results if not result[3]]
    assert not failed, f"{len(failed)} of {len(results)} requests failed: {failed[:5]}"
    assert len(results) >= 200  # both clients kept going (thousands on an idle machine)
    assert sockets.connect_failures == 0
    # Every socket old enough was closed by nginx once its head was late, without an answer:
    # its request never reached gunicorn.
    old_enough = [a for a in attempts if a.opened < stopped - HEADER_TIMEOUT - 5]
    assert len(old_enough) >= 60 * 2  # the first round and their replacements
    assert all(a.closed is not None for a in old_enough), \
        [(a.kind, round(time.monotonic() - a.opened)) for a in old_enough if a.closed is None]
    assert all(a.lifetime < HEADER_TIMEOUT + 4 for a in old_enough), \
        sorted(round(a.lifetime, 1) for a in old_enough)[-5:]
    assert not any(a.received for a in attempts)
    assert any(a.kind == "slow" and a.lines_sent >= 4 for a in old_enough)


def test_proxy_errors_are_problem_json(deployment, tenant, api_key):
    key = f"X-API-Key: {api_key}\r\n".encode()
    # Past the largest body of any route: nginx's 413, before a byte of the body is read.
    status, headers, body = _exchange(deployment.port, (
        f"POST {BASE}/contacts:batch HTTP/1.1\r\nHost: test\r\nContent-Type: application/json"
        f"\r\nContent-Length: {MAX_BODY + 1}\r\n").encode() + key + b"\r\n")
    problem = _nginx_problem(status, headers, body, "payload-too-large")
    assert status == 413 and str(MAX_BODY) in problem["detail"]
    assert problem["instance"] == f"{BASE}/contacts:batch"

    # Under it but over the route's own limit (MAX_BODY_BYTES): the app's 413, through nginx.
    app_413 = requests.put(f"{deployment.url}{BASE}/accounts/BIG",
                           json={"name": "x", "notes": "n" * 2_000_000},
                           headers={"X-API-Key": api_key}, timeout=30)
    assert app_413.status_code == 413
    assert app_413.headers["Content-Type"] == "application/problem+json"
    assert app_413.json()["detail"] == "The request body is larger than this endpoint accepts."

    # URLs and header fields: the app answers up to 16 KiB (its 414 and 431), nginx past it.
    for size, answered_by_app in ((9_000, True), (20_000, False)):
        url = f"{deployment.url}{BASE}/accounts/{'a' * size}"
        long_url = requests.get(url, headers={"X-API-Key": api_key}, timeout=10)
        big_field = requests.get(f"{deployment.url}{BASE}/accounts/A", timeout=10,
                                 headers={"X-API-Key": api_key, "X-Big": "b" * size})
        for response, status in ((long_url, 414), (big_field, 431)):
            assert response.status_code == status
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.json()["code"] == "payload-too-large"
            assert ("8190" in response.json()["detail"] or "8192" in response.json()["detail"]) \
                is answered_by_app, response.json()

    # A malformed chunked body never reaches the app: nginx's 400.
    status, headers, body = _exchange(deployment.port, (
        f"PUT {BASE}/accounts/A HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n").encode() + key + b'\r\nzz {"name":"A"}\r\n0\r\n\r\n')
    assert status == 400
    _nginx_problem(status, headers, body, "malformed-json")
    # A well-formed chunked body reaches it whole.
    chunk = b'{"name":"Chunked"}'
    status, _, body = _exchange(deployment.port, (
        f"PUT {BASE}/accounts/CHUNKED HTTP/1.1\r\nHost: test\r\nContent-Type: application/json"
        "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n").encode() + key
        + b"\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk))
    assert status == 201 and json.loads(body)["name"] == "Chunked"

    # The caller's request id is the app's and nginx's.
    mine = requests.get(f"{deployment.url}{BASE}/accounts/CHUNKED", timeout=10,
                        headers={"X-API-Key": api_key, "X-Request-Id": "etl-run-7.42"})
    assert mine.status_code == 200 and mine.headers["X-Request-Id"] == "etl-run-7.42"


@pytest.fixture
def stub_upstream():
    """A TCP listener that accepts connections and never answers (a stuck gunicorn)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except socket.timeout:
                continue
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for sock in held:
        sock.close()
    listener.close()


@contextlib.contextmanager
def _nginx_alone(nginx, upstream):
    """deploy/nginx.conf rendered and run as serve.py does, without gunicorn; its port."""
    # Under the temporary directory: as root, nginx's workers (www-data) must reach it.
    prefix = tempfile.mkdtemp(prefix="ar-nginx-")
    user = serve._nginx_user()
    serve.prepare_prefix(prefix, user)
    port = free_port()
    config = os.path.join(prefix, "nginx.conf")
    with open(serve.TEMPLATE) as template, open(config, "w") as rendered:
        rendered.write(serve.render(template.read(),
                                    serve.template_values(f"127.0.0.1:{port}", upstream)))
    process = subprocess.Popen(serve._nginx_command(nginx, prefix, config, user),
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(prefix, ignore_errors=True)


def test_proxy_limits_requests_in_progress_per_address(nginx, stub_upstream):
    """Past 64 requests in progress from one address, the next is nginx's 429 problem+json
    with Retry-After, except for the health checks; a gunicorn that is gone is a 502 in the
    same shape."""
    with _nginx_alone(nginx, f"127.0.0.1:{stub_upstream}") as port:
        held = []
        for _ in range(64):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /api/v1/ingest/accounts HTTP/1.1\r\nHost: test\r\n\r\n")
            held.append(sock)
        time.sleep(0.5)  # nginx has read every head and passed it on
        status, headers, body = _exchange(port, b"GET /api/v1/ingest/accounts HTTP/1.1\r\n"
                                                b"Host: test\r\nConnection: close\r\n\r\n")
        assert status == 429 and headers["retry-after"] == "1"
        assert _nginx_problem(status, headers, body,
                              "rate-limited")["instance"] == "/api/v1/ingest/accounts"
        # A load balancer's health check is not counted: it is passed on (to the stuck
        # upstream, so no answer comes), never refused.
        for path in (b"/livez", b"/readyz", b"/metrics"):
            probe = socket.create_connection(("127.0.0.1", port), timeout=2)
            probe.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: test\r\n\r\n")
            with pytest.raises(socket.timeout):
                probe.recv(1)
            held.append(probe)
        for sock in held:  # the 64 were let through: none has an answer
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
            sock.close()
    with _nginx_alone(nginx, f"127.0.0.1:{free_port()}") as port:
        response = requests.get(f"http://127.0.0.1:{port}/api/v1/ingest/accounts/A?limit=1",
                                timeout=10)
        assert response.status_code == 502 and response.headers["Retry-After"] == "1"
        _nginx_problem(502, {name.lower(): value for name, value in response.headers.items()},
                       response.content, "internal-error")
        assert response.json()["instance"] == "/api/v1/ingest/accounts/A"


def _processes():
    """{pid: (parent pid, process group, command name)} of every process."""
    found = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                name, _, rest = stat.read().partition(" (")[2].rpartition(") ")
        except (OSError, ValueError):
            continue
        fields = rest.split()
        found[int(entry)] = (int(fields[1]), int(fields[2]), name)
    return found


def test_a_killed_nginx_master_leaves_no_worker_holding_the_port(nginx, database_url, _schema):
    """nginx's workers outlive a master killed with SIGKILL: the launcher ends them too, so
    the port is free for the next start."""
    server = ServedDeployment(database_url, workers=1, threads=1).start()
    try:
        processes = _processes()
        master = next(pid for pid, (parent, _, name) in processes.items()
                      if parent == server.process.pid and name == "nginx")
        workers = [pid for pid, (parent, _, name) in processes.items() if parent == master]
        assert workers
        os.kill(master, signal.SIGKILL)
        assert server.process.wait(timeout=90) == 1
        deadline = time.monotonic() + 10  # killed ones are reaped by init a moment later
        while time.monotonic() < deadline and any(pid in _processes() for pid in workers):
            time.sleep(0.1)
        left = _processes()
        assert not [pid for pid in workers if pid in left and left[pid][2] == "nginx"]
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
        assert "nginx exited" in server.log_tail()
    finally:
        server.stop()


def test_serve_without_nginx_says_so():
    done = subprocess.run([sys.executable, os.path.join(ROOT, "deploy", "serve.py"),
                           "--nginx", "/nonexistent/nginx"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "nginx is not installed" in done.stderr
    printed = subprocess.run([sys.executable, os.path.join(ROOT, "deploy", "serve.py"),
                              "--nginx", "/nonexistent/nginx", "--print-config", "--listen",
                              "0.0.0.0:8080", "--upstream", "127.0.0.1:8001"],
                             capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    assert "listen 0.0.0.0:8080 backlog=4096;" in printed.stdout
    assert "server 127.0.0.1:8001;" in printed.stdout


def test_a_prefix_in_use_is_refused_and_the_running_deployment_keeps_serving(deployment):
    """A second launcher on a live prefix would take over its sockets: it exits 2, saying so."""
    second = subprocess.run(
        [sys.executable, os.path.join(ROOT, "deploy", "serve.py"), "--prefix", deployment.prefix,
         "--listen", f"127.0.0.1:{free_port()}"], env=deployment.env, capture_output=True,
        text=True, timeout=60)
    assert second.returncode == 2, second.stderr
    assert "another deploy/serve.py is running with the prefix" in second.stderr
    assert requests.get(deployment.url + "/readyz", timeout=10).status_code == 200
    assert os.path.exists(os.path.join(deployment.prefix, "gunicorn.sock"))


def test_redirects_keep_the_port_and_the_access_log_the_method(deployment, tenant, api_key):
    """The app's redirect of a doubled slash names the address the client used, and nginx's
    own answer to a POST is logged as a POST."""
    response = requests.get(f"{deployment.url}/api/v1//ingest/accounts/A", allow_redirects=False,
                            headers={"X-API-Key": api_key}, timeout=10)
    assert response.status_code == 308
    assert response.headers["Location"] == f"{deployment.url}{BASE}/accounts/A"
    status, _, _ = _exchange(deployment.port, (
        f"POST {BASE}/contacts:batch HTTP/1.1\r\nHost: test\r\nX-Request-Id: logged-post-413\r\n"
        f"Content-Type: application/json\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n").encode())
    assert status == 413
    log, deadline = os.path.join(deployment.prefix, "logs", "access.log"), time.monotonic() + 15
    while True:  # nginx writes its access lines every 5 s (flush=5s)
        with open(log) as lines:
            found = [json.loads(line) for line in lines if "logged-post-413" in line]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert [(line["method"], line["status"]) for line in found] == [("POST", 413)], found


def test_heads_gunicorn_refuses_behind_nginx_are_problem_json(deployment, api_key):
    """nginx passes on a head gunicorn cannot parse (Content-Type twice): its 400 is
    problem+json, like nginx's own."""
    status, headers, body = _exchange(deployment.port, (
        f"PUT {BASE}/accounts/A HTTP/1.1\r\nHost: test\r\nX-API-Key: {api_key}\r\n"
        "Content-Type: application/json\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\nConnection: close\r\n\r\n{}").encode())
    assert status == 400 and headers["content-type"] == "application/problem+json", body
    assert json.loads(body)["code"] == "malformed-json"


def test_settings_the_launcher_refuses(capsys):
    """Wrong settings are one line and exit 2, before anything starts."""
    for argv, message in (
            (["--bulk-workers", "abc"], "BULK_WORKERS='abc': expected a whole number"),
            (["--bulk-workers", "-1"], "BULK_WORKERS='-1'"),
            (["--bulk-nice", "50"], "BULK_NICE='50': expected a whole number from 0 to 19"),
            (["--upstream", "unix:/tmp/ar.sock", "--bulk-upstream", "unix:/tmp/ar.sock"],
             "UPSTREAM and BULK_UPSTREAM are both unix:/tmp/ar.sock")):
        assert serve.main(argv + ["--print-config"]) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert serve.main(["--bulk-workers", "0", "--upstream", "unix:/tmp/ar.sock",
                       "--bulk-upstream", "unix:/tmp/ar.sock", "--print-config"]) == 0
    assert "server unix:/tmp/ar.sock;" in capsys.readouterr().out


def test_template_placeholders():
    assert serve.render("listen {{listen}};\n# {{anything}}\n", {"listen": "1"}) == \
        "listen 1;\n# {{anything}}\n"
    with pytest.raises(serve.ServeError, match="no value for {{upstream}}"):
        serve.render("server {{upstream}};\n", {})
    rendered = serve.rendered_config("1", "unix:/run/a.sock", "unix:/run/bulk.sock")
    assert "{{" not in "".join(line for line in rendered.splitlines()
                               if not line.lstrip().startswith("#"))
    assert f"client_max_body_size {MAX_BODY};" in rendered
    assert "server unix:/run/a.sock;" in rendered and "server unix:/run/bulk.sock;" in rendered
    # Without a bulk pool, its routes go to the one pool.
    assert serve.rendered_config("1", "unix:/run/a.sock").count("server unix:/run/a.sock;") == 2


def test_bulk_routes_and_only_they_go_to_the_bulk_pool():
    """nginx's bulk location is made from the app's own route declarations."""
    pattern = re.compile(serve.bulk_paths_pattern())  # PCRE and Python agree on this subset
    for path in ("contacts:batch", "accounts:batch", "documents:batch", "representatives:batch",
                 "contacts:upsert", "representatives:upsert", "representatives:link",
                 "representatives:unlink", "email-events", "email-events/sendgrid",
                 "email-events/postmark"):
        assert pattern.match(f"{BASE}/{path}"), path
    for path in ("contacts", "contacts/C-1", "contacts/C:batch", "contacts:batchx",
                 "contacts:sync-runs", "email-events/sendgrid/x", "x/contacts:batch"):
        assert not pattern.match(f"{BASE}/{path}"), path
