"""Projects in the home: `projects.json`, the /hum/projects routes, and the worker settings a project's hums bloom with (issue 21).

The registry is this device's alone: a project's directory and the tools it
allows without asking never leave it. The node (`hum.node.projects`) announces
names, workers and permission modes to the siblings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hum.brood.claude_cli import PERMISSION_MODES
from hum.brood.config import WORKER_KINDS
from hum.ensemble.trust.identity import atomic_write
from hum.node.projects import MAX_PROJECTS, Project, valid_name
from hum.wire.addresses import is_loopback

if TYPE_CHECKING:
    from hum.brood.factory import WorkerFactory
    from hum.brood.pool import Brood
    from hum.node.humd import Humd

PROJECTS_FILE = "projects.json"
# A project's worker when `hum project add` names none: the case is Claude Code in a repository.
DEFAULT_PROJECT_WORKER = "claude-cli"


class ProjectError(ValueError):
    """A project that cannot be registered or found; said in one line."""


def load_projects(home: Path) -> list[Project]:
    path = home / PROJECTS_FILE
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text()).get("projects", [])
    except (ValueError, AttributeError) as exc:
        raise ProjectError(f"{path} is not a projects file: {exc}") from exc
    return [
        Project(e["name"], e["worker"], e.get("permissionMode"), tuple(e.get("allow") or ()), e["dir"])
        for e in entries
        if isinstance(e, dict) and valid_name(e.get("name")) and isinstance(e.get("dir"), str) and isinstance(e.get("worker"), str)
    ]


def save_projects(home: Path, projects: list[Project]) -> None:
    entries = [
        {"name": p.name, "dir": p.directory, "worker": p.worker, "permissionMode": p.permission_mode, "allow": list(p.allow)}
        for p in projects
    ]
    atomic_write(home / PROJECTS_FILE, json.dumps({"projects": entries}, indent=1).encode(), 0o600)


def new_project(body: dict[str, Any]) -> Project:
    """A project from `hum project add`'s request, checked: a real directory, a name, a known worker and mode."""
    raw = body.get("dir")
    if not isinstance(raw, str) or not raw:
        raise ProjectError("a project needs its directory")
    directory = Path(raw).expanduser().resolve()
    if not directory.is_dir():
        raise ProjectError(f"{raw} is not a directory")
    name = body.get("name") or directory.name
    if not valid_name(name):
        raise ProjectError(f"{str(name)[:80]!r} cannot name a project: letters, digits, '.', '_' and '-' (up to 64), starting with a letter or digit")
    worker = body.get("worker") or DEFAULT_PROJECT_WORKER
    if worker not in WORKER_KINDS:
        raise ProjectError(f"unknown worker {worker!r}; choose one of {', '.join(WORKER_KINDS)}")
    mode = body.get("permissionMode") or None
    if mode is not None and mode not in PERMISSION_MODES:
        raise ProjectError(f"--permission-mode is one of {', '.join(PERMISSION_MODES)}, not {mode!r}")
    allow = body.get("allow") or ""
    if not isinstance(allow, str):
        raise ProjectError("--allow is a comma-separated list of tool rules")
    return Project(str(name), str(worker), mode, tuple(t.strip() for t in allow.split(",") if t.strip()), str(directory))


def add_project(projects: list[Project], project: Project) -> list[Project]:
    if any(p.name == project.name for p in projects):
        raise ProjectError(f"a project named {project.name!r} is registered here already (`hum project remove {project.name}` first)")
    if len(projects) >= MAX_PROJECTS:
        raise ProjectError(f"this device has {MAX_PROJECTS} projects already")
    return [*projects, project]


def remove_project(projects: list[Project], name: str) -> list[Project]:
    kept = [p for p in projects if p.name != name]
    if len(kept) == len(projects):
        raise ProjectError(f"no project named {name[:80]!r} is registered on this device")
    return kept


class ProjectWorkers:
    """A worker factory that gives each hum started in a project here its directory, mode and allowed tools."""

    def __init__(self, factory: WorkerFactory, options_for: Callable[[str], dict[str, Any]]) -> None:
        self.factory = factory
        self.func = getattr(factory, "func", None)  # the worker's class, as the brood reads it off a partial
        self.options_for = options_for

    def __call__(self, sigil: str) -> Any:
        return self.factory(sigil, **self.options_for(sigil))  # type: ignore[call-arg]


def project_aware(brood: Brood, humd: Humd) -> None:
    """Hums of a project run Claude Code in its directory: the narrow path from the registry to the worker."""
    if "claude-cli" in brood.factories:
        brood.factories["claude-cli"] = ProjectWorkers(
            brood.factories["claude-cli"], lambda sg: humd.projects.worker_options(humd.hum(sg))
        )


def add_project_routes(app: web.Application, humd: Humd, home: Path) -> None:
    """GET /hum/projects (every project of the ensemble), POST one, DELETE /hum/projects/{name}; this device only."""

    def refused(request: web.Request) -> web.Response | None:
        if not is_loopback(request.remote or ""):
            return web.json_response({"error": {"message": "projects are managed on the device itself", "code": "local-only"}}, status=403)
        return None

    def listing() -> web.Response:
        dirs = {p.name: p.directory for p in humd.projects.mine.values()}
        out = [{**e, **({"dir": dirs.get(e["name"])} if e["here"] else {})} for e in humd.project_listing()]
        return web.json_response({"projects": out})

    def changed(projects: list[Project]) -> None:
        save_projects(home, projects)
        humd.set_projects(projects)

    async def get(request: web.Request) -> web.Response:
        return refused(request) or listing()

    async def post(request: web.Request) -> web.Response:
        if (no := refused(request)) is not None:
            return no
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ProjectError("send a JSON object")
            changed(add_project(list(humd.projects.mine.values()), new_project(body)))
        except (ProjectError, ValueError) as exc:
            return web.json_response({"error": {"message": str(exc), "code": "bad-project"}}, status=400)
        return listing()

    async def delete(request: web.Request) -> web.Response:
        if (no := refused(request)) is not None:
            return no
        try:
            changed(remove_project(list(humd.projects.mine.values()), request.match_info["name"]))
        except ProjectError as exc:
            return web.json_response({"error": {"message": str(exc), "code": "unknown-project"}}, status=404)
        return listing()

    app.router.add_get("/hum/projects", get)
    app.router.add_post("/hum/projects", post)
    app.router.add_delete("/hum/projects/{name}", delete)
