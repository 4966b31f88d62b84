"""An ESC/POS network printer on loopback: captures what it is sent, answers status queries.

Start it, point `escpos-net:127.0.0.1:<port>` at it, then read `text()` for what a real
printer would have put on paper. Paper-out, cover-open and paper-low are flags to set;
`silent` makes it stop answering status queries, as a hung printer does.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from drivers.printer import DLE, EOT, GS, render_escpos

CUT = bytes([GS, ord("V")])


class PrinterEmulator:
    def __init__(self) -> None:
        self.paper_out = False
        self.cover_open = False
        self.paper_near_end = False
        self.silent = False
        self._lock = threading.Condition()
        self._captured = bytearray()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.05)  # so that close() is noticed promptly
        self.port: int = self._server.getsockname()[1]
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="printer-emulator", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"escpos-net:127.0.0.1:{self.port}"

    def captured(self) -> bytes:
        with self._lock:
            return bytes(self._captured)

    def text(self) -> str:
        return render_escpos(self.captured())

    def wait_for_cuts(self, count: int = 1, timeout: float = 2.0) -> bool:
        """Wait until `count` documents (each ends with a cut, GS V) have arrived."""
        with self._lock:
            return self._lock.wait_for(lambda: self._captured.count(CUT) >= count, timeout)

    def status_byte(self, n: int) -> int:
        """The answer to DLE EOT n (Epson TM series): fixed bits 0x12 plus the flags."""
        stopped = self.paper_out or self.cover_open
        if n == 1:
            return 0x12 | (0x08 if stopped else 0)
        if n == 2:
            return 0x12 | (0x04 if self.cover_open else 0) | (0x20 if self.paper_out else 0)
        if n == 4:
            return 0x12 | (0x0C if self.paper_near_end else 0) | (0x60 if self.paper_out else 0)
        return 0x12

    def close(self) -> None:
        self._stopping = True
        self._server.close()
        self._thread.join(timeout=2)

    def _serve(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        # DLE EOT n is answered at once, even split across reads, as real-time commands are.
        tail = b""
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(4096):
                with self._lock:
                    self._captured += data
                    self._lock.notify_all()
                stream = tail + data  # the tail (< 3 bytes) never holds a whole query
                for i in range(len(stream) - 2):
                    if stream[i] == DLE and stream[i + 1] == EOT and not self.silent:
                        conn.sendall(bytes([self.status_byte(stream[i + 2])]))
                tail = stream[-2:]
