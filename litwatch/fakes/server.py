"""What every fake service shares: a real HTTP server on 127.0.0.1, in a daemon thread.

A fake subclasses ``LoopbackServer`` and implements ``handle(h)`` (``h`` is the request's
``BaseHTTPRequestHandler``) for GET; one that speaks more (E-utilities takes POST) overrides
``handler_class()``.  Port 0: the OS picks a free port, so tests can run side by side.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """What every fake's request handler shares: no log lines (the fakes keep their own
    request logs) and no Nagle delay.

    ``BaseHTTPRequestHandler`` sends a response in two writes (headers, then body).  With
    Nagle's algorithm on, a small body waits for the client to acknowledge the headers, and
    a client that delays its acknowledgements (``requests`` on a kept-alive connection did,
    by up to 40 ms) got every small answer late, which no real service adds (an esearch of
    the crawl benchmark's fake through ``requests``: 76 ms, 35 ms with TCP_NODELAY; Scrapy's
    client was not held up the same way).
    """

    disable_nagle_algorithm = True  # socketserver.StreamRequestHandler sets TCP_NODELAY

    def log_message(self, *args):
        pass


# Pieces given to one ``sendmsg`` call (the system takes up to IOV_MAX, 1,024 on Linux).
PIECES_A_CALL = 512


def send_pieces(sock, pieces: list[bytes]) -> None:
    """Send ``pieces`` in order, as if joined, without joining them: gathering writes
    (``sendmsg``), each picking up where the system's last partial write stopped."""
    if not hasattr(sock, "sendmsg"):  # (no gathering writes on this platform)
        sock.sendall(b"".join(pieces))
        return
    views = [memoryview(p) for p in pieces if p]
    i = 0
    while i < len(views):
        sent = sock.sendmsg(views[i : i + PIECES_A_CALL])
        while sent and i < len(views):
            if sent >= len(views[i]):
                sent -= len(views[i])
                i += 1
            else:
                views[i] = views[i][sent:]
                sent = 0


class LoopbackServer:
    server: ThreadingHTTPServer | None = None

    def handle(self, h: BaseHTTPRequestHandler) -> None:  # pragma: no cover - subclasses
        raise NotImplementedError

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            def do_GET(self):  # noqa: N802
                fake.handle(self)

        return Handler

    @property
    def port(self) -> int:
        assert self.server is not None, "start() the fake first"
        return self.server.server_address[1]

    def start(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler_class())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name=type(self).__name__, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ScriptedServer(LoopbackServer):
    """Answers every GET and POST with what a test scripted, whatever the path: for the
    faults no recording holds (derived, see MANIFEST.md).

    - ``answer(body, status=, content_type=)``: a fixed body;
    - ``echo(status=200)``: a JSON body quoting the request (query string and form body),
      as a misbehaving service does when it echoes an API key back;
    - ``huge(n_bytes, chunk=)``: ``n_bytes`` of a repeated chunk, with a Content-Length;
    - ``endless(chunk=)``: the chunk forever, chunked encoding, no length.

    ``log`` holds (method, path) of every request; ``sent`` counts the body bytes written.
    """

    def __init__(self):
        self.mode: tuple = ("answer", b"", 200, "text/plain")
        self.log: list[tuple[str, str]] = []
        self.sent = 0

    # --- test API -------------------------------------------------------------------
    def answer(self, body: bytes, *, status: int = 200, content_type: str = "text/xml; charset=UTF-8") -> None:
        self.mode = ("answer", body, status, content_type)

    def echo(self, *, status: int = 200) -> None:
        self.mode = ("echo", b"", status, "application/json")

    def huge(self, n_bytes: int, *, chunk: bytes = b"<item><title>x</title></item>\n", content_type: str = "application/rss+xml") -> None:
        self.mode = ("huge", chunk, n_bytes, content_type)

    def endless(self, *, chunk: bytes = b"<item><title>x</title></item>\n", content_type: str = "application/rss+xml") -> None:
        self.mode = ("endless", chunk, 0, content_type)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    # --- serving --------------------------------------------------------------------
    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                fake.serve(self, b"")

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                fake.serve(self, self.rfile.read(length) if length else b"")

        return Handler

    def serve(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        import json
        from urllib.parse import parse_qsl, urlsplit

        self.log.append((h.command, h.path))
        kind, data, arg, ctype = self.mode
        try:
            if kind in ("answer", "echo"):
                if kind == "echo":
                    params = dict(parse_qsl(urlsplit(h.path).query)) | dict(parse_qsl(body.decode("utf-8", "replace")))
                    # NCBI's answer to a bad key quotes it first: {"error":"API key invalid","api-key":...}
                    data = json.dumps({"error": "API key invalid", "api-key": params.get("api_key"), "request": params}).encode()
                    status = arg
                else:
                    status = arg
                h.send_response(status)
                h.send_header("Content-Type", ctype)
                h.send_header("Content-Length", str(len(data)))
                h.end_headers()
                h.wfile.write(data)
                self.sent += len(data)
                return
            h.send_response(200)
            h.send_header("Content-Type", ctype)
            if kind == "huge":
                h.send_header("Content-Length", str(arg))
                h.end_headers()
                left = arg
                block = data * max(1, 65536 // len(data))
                while left > 0:
                    piece = block[:left]
                    h.wfile.write(piece)
                    self.sent += len(piece)
                    left -= len(piece)
                return
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            block = data * max(1, 65536 // len(data))
            frame = f"{len(block):x}\r\n".encode() + block + b"\r\n"
            while True:
                h.wfile.write(frame)
                self.sent += len(block)
        except (BrokenPipeError, ConnectionResetError, OSError):
            h.close_connection = True
