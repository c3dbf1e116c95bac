"""What every fake service shares: a real HTTP server on 127.0.0.1, in a daemon thread.

A fake subclasses ``LoopbackServer`` and implements ``handle(h)`` (``h`` is the request's
``BaseHTTPRequestHandler``) for GET; one that speaks more (E-utilities takes POST) overrides
``handler_class()``.  Port 0: the OS picks a free port, so tests can run side by side.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer:
    server: ThreadingHTTPServer | None = None

    def handle(self, h: BaseHTTPRequestHandler) -> None:  # pragma: no cover - subclasses
        raise NotImplementedError

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                fake.handle(self)

            def log_message(self, *args):  # quiet: the fakes keep their own request logs
                pass

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
