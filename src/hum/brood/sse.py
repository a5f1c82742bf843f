"""An incremental `text/event-stream` parser over bytes, sans I/O: each read in, its whole events out."""

from __future__ import annotations

from hum.errors import WorkerError

# An upstream line longer than this (1 MiB) is not an SSE event we can use; a
# server streaming without newlines would otherwise grow our buffer forever.
MAX_SSE_LINE = 1 << 20


class SseParser:
    """Feeds bytes as they arrive; gives back the (event, data) pairs that each read completed.

    Per the WHATWG rules the upstreams need: `data:` lines of one event are
    joined with a newline, `event:` names it (default `message`), a line that
    starts with `:` is a comment, an empty line ends the event. Data stays
    bytes: the caller decodes it as JSON in one step.
    """

    def __init__(self, max_line: int = MAX_SSE_LINE) -> None:
        self.max_line = max_line
        self._rest = b""
        self._event = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        data = self._rest + chunk if self._rest else chunk
        if self._data or self._event or b"\r" in data:  # in the middle of an event, or CR line ends
            lines = data.split(b"\n")
            self._rest = lines.pop()
            self._check(self._rest)
            return self._lines(lines)
        # Whole events, each up to its empty line; an event of one `data: ` line (what the
        # upstreams send) is its payload as it is, any other is read line by line.
        *events, self._rest = data.split(b"\n\n")
        self._check(self._rest)
        out: list[tuple[str, bytes]] = []
        for event in events:
            if event[:6] == b"data: " and b"\n" not in event:
                out.append(("message", event[6:]))
            else:
                out += self._lines([*event.split(b"\n"), b""])
        return out

    def _check(self, rest: bytes) -> None:
        if len(rest) > self.max_line:  # the unfinished event: a line, or an event of several
            raise WorkerError("upstream-error", f"the upstream sent a line longer than {self.max_line} bytes")

    def close(self) -> list[tuple[str, bytes]]:
        """The end of the stream: a last line without its newline, and an event it did not end."""
        out = self._lines(self._rest.split(b"\n") if self._rest else [])
        self._rest = b""
        if self._data:
            out.append(self._dispatch())
        return out

    def _lines(self, lines: list[bytes]) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        for line in lines:
            if line[-1:] == b"\r":
                line = line[:-1]
            if line.startswith(b"data:"):  # most lines: no partition, no decode
                self._data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif not line:
                if self._data:
                    out.append(self._dispatch())
                self._event = b""
            elif line[:1] != b":":
                name, _, value = line.partition(b":")
                value = value[1:] if value[:1] == b" " else value
                if name == b"event":
                    self._event = value
                elif name == b"data":  # `data` alone: an empty data line
                    self._data.append(value)
        return out

    def _dispatch(self) -> tuple[str, bytes]:
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        event = self._event.decode("utf-8", "replace") or "message"
        self._data, self._event = [], b""
        return event, data
