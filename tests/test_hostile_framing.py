"""A malformed chunked body under gunicorn: a 400 problem, and none of its bytes in any log."""
import json
import socket

import pytest

from app.resources.accounts import Account
from live_server import GunicornServer

pytestmark = pytest.mark.slow
SECRET = b'{"email":"jane.doe@customer.com","name":"Jane"}'


def _exchange(port, raw):
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)  # the client is gone: the body ends where it stopped
        received = b""
        while True:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not data:
                break
            received += data
    return received


@pytest.mark.parametrize("chunk", [
    b"zz " + SECRET + b"\r\n",                    # a chunk size that is not hex
    b"5\r\n" + SECRET + b"\r\n",                  # a chunk longer than its size
    b"ffffffffffff\r\n" + SECRET,                 # cut short long before its size
], ids=["not hex", "overlong chunk", "cut short"])
def test_a_malformed_chunked_body_is_400_and_never_logged(app, database_url, api_key, chunk):
    server = GunicornServer(database_url, workers=1, threads=2,
                            env={"LOG_LEVEL": "DEBUG", "GUNICORN_LOG_LEVEL": "debug"}).start()
    try:
        head = (f"PUT /api/v1/ingest/accounts/A HTTP/1.1\r\nHost: test\r\n"
                f"X-API-Key: {api_key}\r\nContent-Type: application/json\r\n"
                f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
        answer = _exchange(server.port, head + chunk)
    finally:
        server.stop()
    logs = server.log_tail(size=10 ** 8).encode()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"400", answer[:300]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"application/problem+json" in headers.lower()
    problem = json.loads(body)
    assert (problem["status"], problem["code"]) == (400, "malformed-json")
    assert b"jane.doe" not in answer
    assert b"jane.doe" not in logs and b"customer.com" not in logs, logs[-3000:]
    assert Account.select().count() == 0


@pytest.mark.parametrize("header", [
    b"Content-Type: application/json\r\nContent-Type: application/json\r\n",  # twice
    b"X-Note: a\x01b\r\n",                                                    # a control byte
], ids=["content type twice", "control byte"])
def test_what_gunicorn_cannot_parse_is_problem_json_too(database_url, _schema, header):
    """gunicorn refuses these heads itself, before the app: in the app's shape, not HTML."""
    with GunicornServer(database_url, workers=1, threads=1) as server:
        answer = _exchange(server.port, b"PUT /api/v1/ingest/accounts/A HTTP/1.1\r\nHost: t\r\n"
                                        + header + b"Content-Length: 2\r\n\r\n{}")
    status_line, _, rest = answer.partition(b"\r\n")
    head, _, body = rest.partition(b"\r\n\r\n")
    headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n"))
    assert status_line.split()[1] == b"400", answer[:300]
    assert headers[b"Content-Type"] == b"application/problem+json"
    problem = json.loads(body)
    assert problem == {"type": "/problems/malformed-json", "title": "Malformed JSON",
                       "status": 400, "detail": problem["detail"], "instance": None,
                       "code": "malformed-json", "request_id": headers[b"X-Request-Id"].decode()}
    assert "not valid HTTP/1.1" in problem["detail"]
