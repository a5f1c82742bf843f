"""The web chat served by humd: a static page plus the small JSON API it uses.

The page reads a hum through `/v1/hums/{sigil}/events` (petals with their
wane as the SSE id), so a reload or a reconnect rebuilds the same text from
the log: nothing lost, nothing twice. `/api/events` tells it when the set of
linked peers changes, so a page that lost a hum's home reconnects as soon as
that device is back, not on a timer.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hum.surfaces.browsers import BOOK_KEY, BROWSER_COOKIE
from hum.surfaces.http import (
    FIRST_TONE_SECONDS,
    HUMD_KEY,
    KEEPALIVE_SECONDS,
    HumTap,
    HumTarget,
    SurfaceError,
    need_hum,
    new_sid,
    open_sse,
    read_json,
    sse_data,
    tone_error,
    write_or_gone,
)
from hum.surfaces.permits import answer_ask, check_answer
from hum.wire.tones import PROTO_VERSION, Tone

if TYPE_CHECKING:
    from hum.core.hum import Hum
    from hum.node.humd import Humd

WEB_DIR = Path(__file__).parent / "web"
# A prompt typed on a phone is short; anything longer is a paste gone wrong.
MAX_PROMPT_CHARS = 100_000
# How much of a hum's first prompt names it in the list.
TITLE_CHARS = 80
# A hum's title is its first prompt, which is its first petal unless a note came first.
FIRST_PETALS = 4
# Files served at the root, with their content type: a service worker's scope is the folder it is served from.
# The manifest at the root, beside the service worker (served by `service_worker`), so the app's scope is the whole page.
ROOT_FILES = {"manifest.webmanifest": "application/manifest+json"}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get(r"/{script:sw(-[a-z]+)?\.js}", service_worker)
    app.router.add_get("/api/projects", list_projects)
    app.router.add_get("/manifest.webmanifest", _root_file("manifest.webmanifest", ROOT_FILES["manifest.webmanifest"]))
    app.router.add_static("/static/", WEB_DIR, show_index=False, append_version=False)
    app.router.add_get("/api/hums", list_hums)
    app.router.add_get("/api/events", events)
    app.router.add_post("/api/hums", new_hum)
    app.router.add_post("/api/hums/{sigil}/prompt", prompt_hum)
    app.router.add_post("/api/hums/{sigil}/cancel", cancel_hum)
    app.router.add_post("/api/hums/{sigil}/adopt", adopt_hum)
    app.router.add_post("/api/hums/{sigil}/permits/{permit_id}", answer_permit)


def _root_file(name: str, kind: str) -> Any:
    async def serve(request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_DIR / name, headers={"Content-Type": kind, "Cache-Control": "no-cache"})

    return serve


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def service_worker(request: web.Request) -> web.FileResponse:
    """The service worker and the scripts it imports, from the root so its scope is the whole web chat."""
    path = WEB_DIR / request.match_info["script"]
    if not path.is_file():
        raise SurfaceError(404, "no such script", code="not-found")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache", "Content-Type": "text/javascript", "Service-Worker-Allowed": "/"})


async def list_projects(request: web.Request) -> web.Response:
    """Every project of the ensemble (what the New button offers): names and devices, never a directory."""
    humd = request.app[HUMD_KEY]
    return web.json_response({"projects": humd.project_listing()})


def _project(humd: Humd, sg: str) -> str | None:
    hum = humd.hum(sg)
    return humd.projects.project_of(hum) if hum is not None else humd.projects.of_hum.get(sg)


def _asking(hum: Hum) -> bool:
    """The open bloom waits for a person: an ask with no permit after it (home or replica alike)."""
    open_asks: set[Any] = set()
    for petal in hum.since(hum.last_prompt - 1):
        if petal.chi == "permission-ask":
            open_asks.add(petal.body.get("permitId"))
        elif petal.chi == "permit":
            open_asks.discard(petal.body.get("permitId"))
    return bool(open_asks)


def _title(humd: Humd, sg: str) -> str | None:
    hum = humd.hum(sg)
    if hum is None:
        return None
    first = next((p for p in hum.since(0, FIRST_PETALS) if p.chi == "prompt"), None)
    if first is None:
        return None
    text = " ".join(str(first.body.get("text", "")).split())
    return text[:TITLE_CHARS] + ("…" if len(text) > TITLE_CHARS else "")


async def list_hums(request: web.Request) -> web.Response:
    humd = request.app[HUMD_KEY]
    out = []
    for entry in humd.list_hums():
        hum = humd.hum(entry["sigil"])
        out.append(
            {
                **entry,
                "title": _title(humd, entry["sigil"]),
                "here": entry.get("home") == humd.id,
                "blooming": bool(hum and hum.bloom_open),
                "waiting": bool(hum and hum.bloom_open and _asking(hum)),
                "project": _project(humd, entry["sigil"]),
            }
        )
    names = {hid: name for hid, name in humd.device_names().items() if name}
    names[humd.id] = humd.name
    return web.json_response({"humdId": humd.id, "name": humd.name, "names": names, "hums": out})


async def _prompt_text(request: web.Request) -> str:
    return _checked_text(await read_json(request))


def _checked_text(body: dict[str, Any]) -> str:
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise SurfaceError(400, "`text` must be a non-empty string", code="bad-text")
    if len(text) > MAX_PROMPT_CHARS:
        raise SurfaceError(413, f"a prompt is at most {MAX_PROMPT_CHARS} characters", code="prompt-too-long")
    return text


def _start(tap: HumTap, text: str, **fields: Any) -> str:
    """A prompt that starts a hum by what `fields` say (a `project`); returns its request id."""
    req = secrets.token_hex(8)
    tap.session.receive(Tone.make("prompt", text=text, reqId=req, **fields))
    return req


async def _send(request: web.Request, target: HumTarget | None, text: str, **fields: Any) -> web.Response:
    """Prompt the hum (`target`, else the one `fields` start); answer once the prompt petal is appended (the page follows the bloom by SSE)."""
    humd = request.app[HUMD_KEY]
    browser = request.app[BOOK_KEY].find(request.cookies.get(BROWSER_COOKIE))
    tap = HumTap(humd, "web", bee=browser.name if browser else None)  # an enrolled browser's prompts carry its name
    try:
        req = tap.prompt(target, text, **fields) if target else _start(tap, text, **fields)
        prompt: dict[str, Any] = await anext(tap.bloom(req))
    finally:
        tap.close()
    return web.json_response({"sigil": prompt["sigil"], "wane": prompt["wane"]}, status=202)


async def new_hum(request: web.Request) -> web.Response:
    """A new hum: here, or (`project`) on the device that owns that project."""
    humd = request.app[HUMD_KEY]
    body = await read_json(request)
    text = _checked_text(body)
    project = body.get("project")
    if project is None:
        return await _send(request, HumTarget.for_sid(humd, new_sid("web")), text)
    if not isinstance(project, str):
        raise SurfaceError(400, "`project` is a project's name", code="bad-project", param="project")
    return await _send(request, None, text, project=project)


async def prompt_hum(request: web.Request) -> web.Response:
    humd = request.app[HUMD_KEY]
    sg = request.match_info["sigil"]
    await need_hum(humd, sg)
    text = await _prompt_text(request)
    return await _send(request, HumTarget(sg), text)


async def adopt_hum(request: web.Request) -> web.Response:
    """"Continue on this device": this humd becomes the home of a hum whose home is gone."""
    humd = request.app[HUMD_KEY]
    sg = request.match_info["sigil"]
    tap = HumTap(humd, "web-adopt")
    try:
        ask = tap.adopt(sg)
        while True:
            tone = await tap.next(FIRST_TONE_SECONDS)
            if tone is None:
                raise SurfaceError(504, "this humd did not answer the adoption in time", code="timeout")
            if tone.get("rid") == ask or tone.chi == "adopted":
                break
    finally:
        tap.close()
    if tone.chi != "adopted":
        raise tone_error(tone)
    return web.json_response({"sigil": sg, "home": tone["home"], "epoch": tone["epoch"], "wane": tone["wane"]})


async def cancel_hum(request: web.Request) -> web.Response:
    humd = request.app[HUMD_KEY]
    sg = request.match_info["sigil"]
    await need_hum(humd, sg)
    tap = HumTap(humd, "web-cancel")
    try:
        tap.cancel(sg)
    finally:
        tap.close()
    return web.json_response({"sigil": sg, "cancelled": True}, status=202)


async def answer_permit(request: web.Request) -> web.Response:
    """Allow or deny a worker's ask: `{decision, message?, wane?}` (`wane`: the ask's, so only what follows is read)."""
    humd = request.app[HUMD_KEY]
    sg, permit_id = request.match_info["sigil"], request.match_info["permit_id"]
    await need_hum(humd, sg)
    body = await read_json(request)
    decision, message = check_answer(body.get("decision"), body.get("message"))
    wane = body.get("wane", 1)
    if not isinstance(wane, int) or isinstance(wane, bool) or wane < 1:
        raise SurfaceError(400, "`wane` is the ask's wane: a whole number >= 1", code="bad-wane")
    permit = await answer_ask(humd, sg, permit_id, decision, message, since=wane - 1, kind="web")
    return web.json_response({"sigil": sg, "permitId": permit_id, "decision": permit.get("decision"), "from": permit.get("from"), "wane": permit.get("wane")})


async def events(request: web.Request) -> web.StreamResponse:
    """SSE `event: peers` with `{humdId, peers}` now and at every change of the linked peers."""
    humd = request.app[HUMD_KEY]
    session = humd.open_nestler(f"http-web-events-{secrets.token_hex(3)}")
    try:
        session.receive(Tone(chi="hello", bee="hum-web", protoVersion=PROTO_VERSION))
        session.receive(Tone(chi="peers", rid="web-events", watch=True))
        resp = await open_sse(request)
        while True:
            try:
                tones = await asyncio.wait_for(session.next_tones(), KEEPALIVE_SECONDS)
            except TimeoutError:
                if not await write_or_gone(resp, b": keepalive\n\n"):
                    return resp
                continue
            for tone in tones:
                if tone.chi != "peers":
                    continue  # the breath
                said = {"humdId": humd.id, "peers": tone.get("peers") or [], "names": tone.get("names") or {}}
                if not await write_or_gone(resp, sse_data(said, event="peers")):
                    return resp
    finally:
        session.close()
