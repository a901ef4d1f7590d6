"""A hostile HTTP server on 127.0.0.1: every request is answered by a function of the test's."""
import contextlib
import http.server
import threading
from typing import Callable, Iterator


class Handler(http.server.BaseHTTPRequestHandler):
    answer: Callable  # set per server: answer(handler) writes the whole answer

    def setup(self):
        super().setup()
        self.server.connections += 1

    def do_GET(self):
        self.server.seen.append(self.path)
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))  # the next request follows it
        self.server.answer(self)

    do_POST = do_PATCH = do_DELETE = do_GET

    def send(self, status: int, body: bytes = b"", **headers) -> None:
        """A whole answer: ``status``, ``headers`` (``_`` for ``-``), ``body`` (Content-Length from it unless given)."""
        self.send_response(status)
        headers = {name.replace("_", "-"): value for name, value in headers.items()}
        headers.setdefault("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(answer: Callable, keep_alive: bool = False) -> Iterator[http.server.ThreadingHTTPServer]:
    """Serve ``answer`` until the block ends; the server's ``url``, ``seen`` (the paths asked) and ``connections``
    (accepted) for the test. ``keep_alive``: HTTP/1.1, a connection kept for the next request."""
    handler = type("KeepAlive", (Handler,), {"protocol_version": "HTTP/1.1"}) if keep_alive else Handler
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.answer, server.seen, server.connections = answer, [], 0
    server.url = "http://127.0.0.1:{}".format(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
