"""Slow and silent clients, all run by one thread (tests and bench/slow_clients.py).

A slow socket sends a request line, then one header line every `interval` seconds and never
the blank line that ends the head; a silent socket connects and sends nothing. Each one the
server closes is opened again until stop(), so the pressure holds for the whole run.
"""
import selectors
import socket
import threading
import time

REQUEST_LINE = b"GET /api/v1/ingest/accounts/SLOW HTTP/1.1\r\nHost: slow.example\r\n"


class Attempt:
    """One socket's life: when it opened, when the server closed it, what the server sent."""

    def __init__(self, kind, sock):
        self.kind, self.sock = kind, sock
        self.opened = time.monotonic()
        self.closed = None  # set when the server closed it (EOF or reset)
        self.received = b""
        self.lines_sent = 0
        self.next_send = self.opened

    @property
    def lifetime(self):
        return None if self.closed is None else self.closed - self.opened


class SlowSockets:
    def __init__(self, host, port, slow=50, silent=10, interval=2.0):
        self.address = (host, port)
        self.kinds = ["slow"] * slow + ["silent"] * silent
        self.interval = interval
        self.attempts = []
        self.connect_failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-sockets", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        """Stop reopening, close what is still open; every Attempt, in order of opening."""
        self._stop.set()
        self._thread.join()
        return self.attempts

    def _open(self, kind, selector):
        try:
            sock = socket.create_connection(self.address, timeout=5)
            if kind == "slow":
                sock.sendall(REQUEST_LINE)
        except OSError:
            self.connect_failures += 1
            return None
        sock.setblocking(False)
        attempt = Attempt(kind, sock)
        attempt.next_send = attempt.opened + self.interval
        self.attempts.append(attempt)
        selector.register(sock, selectors.EVENT_READ, attempt)
        return attempt

    def _close(self, attempt, selector, by_server):
        selector.unregister(attempt.sock)
        attempt.sock.close()
        if by_server:
            attempt.closed = time.monotonic()

    def _run(self):
        selector = selectors.DefaultSelector()
        live = [self._open(kind, selector) for kind in self.kinds]
        while not self._stop.is_set():
            now = time.monotonic()
            for index, attempt in enumerate(live):
                if attempt is None:  # its connect failed: try again
                    live[index] = self._open(self.kinds[index], selector)
                    continue
                if attempt.kind == "slow" and attempt.next_send <= now:
                    try:
                        attempt.sock.send(b"X-Slow-%d: %d\r\n" % (attempt.lines_sent, index))
                        attempt.lines_sent += 1
                    except BlockingIOError:
                        pass
                    except OSError:  # reset or broken pipe: the server let go of it
                        self._close(attempt, selector, by_server=True)
                        live[index] = self._open(attempt.kind, selector)
                        continue
                    attempt.next_send = now + self.interval
            for key, _ in selector.select(timeout=0.1):
                attempt = key.data
                try:
                    data = attempt.sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    attempt.received += data
                    continue
                index = live.index(attempt)
                self._close(attempt, selector, by_server=True)
                live[index] = self._open(attempt.kind, selector)
        for attempt in live:
            if attempt is not None:
                self._close(attempt, selector, by_server=False)
        selector.close()


def normal_traffic(url, api_key, seconds, keep_alive=True, timeout=5.0,
                   prefix="/api/v1/ingest"):
    """An ETL client meanwhile: GET one account, PUT another, in a loop for `seconds`, on one
    kept-alive connection or (keep_alive=False) a new one per request. One (method, status or
    error name, latency in s, answer as expected) per request."""
    import requests

    results, deadline = [], time.monotonic() + seconds
    http = requests.Session()
    http.headers["X-API-Key"] = api_key
    if not keep_alive:
        http.headers["Connection"] = "close"
    number = 0
    while time.monotonic() < deadline:
        number += 1
        path = "NORMAL-PUT-" + ("KEPT" if keep_alive else "NEW")
        for method, path, body in (("GET", "NORMAL-GET", None),
                                   ("PUT", path, {"name": f"put {number}"})):
            started = time.monotonic()
            try:
                response = http.request(method, f"{url}{prefix}/accounts/{path}", json=body,
                                        timeout=timeout)
                expected = {"account_number": path, "name": body["name"] if body else "normal"}
                got = response.json() if response.status_code < 300 else {}
                ok = response.status_code in (200, 201) and all(
                    got.get(name) == value for name, value in expected.items())
                results.append((method, response.status_code, time.monotonic() - started, ok))
            except requests.RequestException as error:
                results.append((method, type(error).__name__, time.monotonic() - started,
                                False))
    http.close()
    return results


def prepare_normal_records(url, api_key, prefix="/api/v1/ingest"):
    """The account normal_traffic() reads."""
    import requests

    response = requests.put(f"{url}{prefix}/accounts/NORMAL-GET", json={"name": "normal"},
                            headers={"X-API-Key": api_key}, timeout=30)
    assert response.status_code in (200, 201), response.text
