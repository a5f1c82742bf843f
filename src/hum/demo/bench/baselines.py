"""The baselines: the same work done the plainest way, in this process, beside each hum measure.

- `direct`: a client reading the upstream's SSE itself (what a chunk costs with nothing between).
- `durable_relay`: JSON + SQLite WAL, one commit per read, then to a socket reader.
- `fanout_relay`: a trivial asyncio relay writing each chunk to every client (`relay_apart`: the
  same relay in a process of its own).
- `sqlite_read`: plain Python reading a hum's petals out of the humd's own SQLite file (its rows
  and its blocks of chunks) and decoding each.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp

from hum.demo.bench.measure import STEP_TIMEOUT_SECONDS, TAP_READ_BYTES, Tap
from hum.demo.bench.upstream import ask, stamps


async def sse_datas(session: aiohttp.ClientSession, base_url: str, text: str):  # type: ignore[no-untyped-def]
    """The `data:` payloads of one streamed completion, as they arrive, batch by batch."""
    body = {"model": "bench", "stream": True, "messages": [{"role": "user", "content": text}]}
    async with session.post(f"{base_url}/chat/completions", json=body) as resp:
        rest = b""
        async for data in resp.content.iter_any():
            *lines, rest = (rest + data).split(b"\n")
            yield [line[6:] for line in lines if line.startswith(b"data: ") and line != b"data: [DONE]"]


async def direct(base_url: str, chunks: int, pace: float) -> list[float]:
    """Delays (ms) of each chunk from the upstream straight to a client."""
    delays: list[float] = []
    async with aiohttp.ClientSession() as session:
        async for batch in sse_datas(session, base_url, ask(chunks, pace)):
            now = time.monotonic_ns()
            for data in batch:
                for choice in json.loads(data).get("choices") or []:
                    for stamp in stamps(choice["delta"].get("content") or ""):
                        delays.append((now - stamp) / 1e6)
    return delays


async def durable_relay(base_url: str, chunks: int, db_path: Path) -> float:
    """Petals/s through the plainest durable relay: parse, encode, INSERT + COMMIT (WAL), send."""
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE petals (wane INTEGER PRIMARY KEY, body TEXT)")
    ours, theirs = socket.socketpair()
    reader, reader_side = await asyncio.open_connection(sock=theirs, limit=TAP_READ_BYTES)
    _, writer = await asyncio.open_connection(sock=ours)

    async def receive() -> None:
        seen = 0
        while seen < chunks:
            data = await reader.read(TAP_READ_BYTES)
            if not data:
                raise ConnectionError("relay closed early")
            seen += data.count(b"\n")

    started = time.perf_counter()
    receiving = asyncio.create_task(receive())
    wane = 0
    async with aiohttp.ClientSession() as session:
        async for batch in sse_datas(session, base_url, ask(chunks)):
            rows = []
            for data in batch:
                for choice in json.loads(data).get("choices") or []:
                    content = choice["delta"].get("content")
                    if content:
                        wane += 1
                        rows.append((wane, json.dumps({"chi": "chunk", "wane": wane, "delta": content})))
            if rows:
                db.executemany("INSERT INTO petals VALUES (?, ?)", rows)
                db.commit()
                writer.write(b"".join(body.encode() + b"\n" for _, body in rows))
                await writer.drain()
    await asyncio.wait_for(receiving, STEP_TIMEOUT_SECONDS)
    elapsed = time.perf_counter() - started
    writer.close()
    reader_side.close()
    db.close()
    return chunks / elapsed


async def fanout_relay(base_url: str, taps: int, chunks: int, pace: float, sock_path: Path) -> list[float]:
    """Delays (ms) at `taps` clients of a trivial asyncio relay: each chunk written to every client."""
    server, writers, connected = await relay_server(sock_path, taps)
    clients = []
    for _ in range(taps):
        reader, writer = await asyncio.open_unix_connection(str(sock_path), limit=TAP_READ_BYTES)
        clients.append(Tap(reader, writer))
    await connected.wait()
    listening = [asyncio.create_task(c.until(lambda t: t.get("chi") == "finish")) for c in clients]
    await relay(base_url, writers, chunks, pace)
    await asyncio.gather(*listening)
    for c in clients:
        c.close()
    server.close()
    return [d for c in clients for d in c.delays_ms]


async def relay_server(sock_path: Path, taps: int) -> tuple[asyncio.Server, list[asyncio.StreamWriter], asyncio.Event]:
    """A relay's Unix socket: the server, its clients' writers, and an event set once `taps` are there."""
    writers: list[asyncio.StreamWriter] = []
    connected = asyncio.Event()

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        if len(writers) == taps:
            connected.set()

    server = await asyncio.start_unix_server(accept, str(sock_path), backlog=max(100, taps))  # every client may connect at once
    return server, writers, connected


async def relay(base_url: str, writers: list[asyncio.StreamWriter], chunks: int, pace: float) -> None:
    """Each chunk of one upstream stream written to every client as a line, then a `finish` line."""
    wane = 0
    async with aiohttp.ClientSession() as session:
        async for batch in sse_datas(session, base_url, ask(chunks, pace)):
            for data in batch:
                for choice in json.loads(data).get("choices") or []:
                    content = choice["delta"].get("content")
                    if content:
                        wane += 1
                        line = json.dumps({"chi": "chunk", "wane": wane, "delta": content}).encode() + b"\n"
                        for w in writers:
                            w.write(line)
    for w in writers:
        w.write(b'{"chi":"finish"}\n')


def sqlite_read(db_path: Path, sigil: str, clock: Callable[[], float] = time.perf_counter) -> float:
    """Petals/s of plain Python reading one hum's petals from the humd's SQLite file and decoding them
    (per second of `clock`: wall time for the bench, thread CPU time for `store_blocks`)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    started = clock()
    count = 0
    for _wane, _chi, body in db.execute("SELECT wane, chi, body FROM petals WHERE sigil = ? ORDER BY wane", (sigil,)):
        json.loads(body)
        count += 1
    for (lines,) in db.execute("SELECT lines FROM blocks WHERE sigil = ? ORDER BY first", (sigil,)):  # its chunks (store/blocks.py)
        for line in lines.splitlines():
            json.loads(line)
            count += 1
    elapsed = clock() - started
    db.close()
    return count / elapsed
