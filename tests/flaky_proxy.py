"""A test double in front of the real server: fails on purpose, then passes requests through."""
import http.server
import threading

import requests

from live_server import free_port

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length",
               "content-encoding"}


class FlakyProxy:
    """Forwards to `upstream`, except that it first answers the next `failures` requests
    with `status` (and Retry-After when given), or, with `hang_up`, forwards the next
    `failures` requests and closes the connection instead of answering; `delay` slows
    every request."""

    def __init__(self, upstream):
        self.upstream, self.port = upstream, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.failures, self.status, self.retry_after, self.hang_up = 0, 503, None, False
        self.delay = 0.0
        self.seen = []  # (method, path, Idempotency-Key) of every request received
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with proxy.lock:
                    proxy.seen.append((self.command, self.path,
                                       self.headers.get("Idempotency-Key")))
                    failing = proxy.failures > 0
                    if failing:
                        proxy.failures -= 1
                    delay = proxy.delay
                if delay:
                    threading.Event().wait(delay)
                if failing and not proxy.hang_up:
                    self.send_response(proxy.status)
                    if proxy.retry_after is not None:
                        self.send_header("Retry-After", str(proxy.retry_after))
                    self.send_header("Content-Type", "application/problem+json")
                    payload = b'{"status": %d, "code": "internal-error"}' % proxy.status
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {name: value for name, value in self.headers.items()
                           if name.lower() not in ("host", "content-length")}
                answer = requests.request(self.command, proxy.upstream + self.path, data=body,
                                          headers=headers, timeout=60)
                if failing:  # the server did the work; the client never hears of it
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def fail_next(self, count, status=503, retry_after=None, hang_up=False):
        with self.lock:
            self.failures, self.status = count, status
            self.retry_after, self.hang_up = retry_after, hang_up

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
