"""Body framing under gunicorn, over raw sockets: chunked bodies, 413 and the connection after it."""
import json
import socket

import pytest

from app.resources.accounts import Account
from live_server import GunicornServer

pytestmark = pytest.mark.slow
BASE = "/api/v1/ingest"


@pytest.fixture(scope="module")
def server(database_url, _schema):
    with GunicornServer(database_url, workers=1, threads=2) as running:
        yield running


class Connection:
    """One keep-alive HTTP/1.1 connection, read response by response."""

    def __init__(self, server):
        # Deadlines for a server that never answers or never closes; a busy one is slow.
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method, path, key, body=b"", headers=(), chunked=None):
        lines = [f"{method} {BASE}{path} HTTP/1.1", "Host: test", f"X-API-Key: {key}",
                 "Content-Type: application/json", *headers]
        if chunked is not None:
            lines.append("Transfer-Encoding: chunked")
            payload = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in chunked) + \
                b"0\r\n\r\n"
        else:
            lines.append(f"Content-Length: {len(body)}")
            payload = body
        try:
            self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer 413 and close before reading it all
        return self.response()

    def response(self):
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, value in
                   (line.split(":", 1) for line in header_lines)}
        length = int(headers.get("content-length", 0))
        while len(self.buffer) < length:
            self._read()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def _read(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed by the server")
        self.buffer += data

    def is_closed(self):
        try:
            self.sock.settimeout(60)  # returns as soon as the server closes
            return self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self):
        self.sock.close()


@pytest.fixture
def connection(server):
    opened = Connection(server)
    yield opened
    opened.close()


def test_a_chunked_body_over_the_limit_is_413_and_nothing_is_stored(connection, api_key):
    start = b'{"name": "trunc"}'
    status, headers, body = connection.request(
        "PUT", "/accounts/CHUNKED", api_key,
        chunked=[start] + [b" " * 65536] * 25 + [b"garbage"])
    assert status == 413 and json.loads(body)["code"] == "payload-too-large"
    assert headers["connection"] == "close" and connection.is_closed()
    assert Account.select().where(Account.account_number == "CHUNKED").count() == 0


def test_a_chunked_body_within_the_limit_is_stored(connection, api_key):
    status, headers, body = connection.request(
        "PUT", "/accounts/SMALL", api_key, chunked=[b'{"name": ', b'"chunked"}'])
    assert status == 201 and json.loads(body)["name"] == "chunked"


def test_after_a_413_the_server_says_close_and_closes(connection, api_key):
    status, headers, _ = connection.request("PUT", "/accounts/BIG", api_key,
                                            body=b'{"name": "' + b"x" * (1100 * 1024) + b'"}')
    assert status == 413 and headers["connection"] == "close"
    assert connection.is_closed()


def test_an_unread_body_keeps_the_connection_usable(connection, api_key):
    body = json.dumps({"name": "n", "description": "d" * 3000}).encode() * 1
    padded = body[:-1] + b', "notes": "' + b"p" * (600 * 1024) + b'"}'
    status, headers, _ = connection.request("PUT", "/accounts/A", "ark_0000_wrong", body=padded)
    assert status == 401 and headers["connection"] == "keep-alive"
    status, _, body = connection.request("GET", "/accounts:versions", api_key)
    assert status == 200 and json.loads(body)["items"] is not None


def test_header_limits_are_problem_json_under_gunicorn(connection, api_key):
    many = [f"X-Extra-{n}: 1" for n in range(150)]
    status, headers, body = connection.request("GET", "/accounts", api_key, headers=many)
    assert status == 431 and headers["content-type"] == "application/problem+json"
    assert json.loads(body)["code"] == "payload-too-large"
