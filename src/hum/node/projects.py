"""Projects: directories registered on the device that owns them, startable from any device (issue 21).

`ProjectBook` is the ensemble's project registry as one humd knows it: its own
projects (with their directory and worker settings, which never leave this
device) and each sibling's, as that sibling announced them in its `projects`
tone at link-up. It decides, with no I/O:

- where a prompt that names a `project` goes (the owning device, which mints
  the hum and becomes its home), or why it cannot (`route-error`
  `unknown-project`, `no-route`);
- which worker, directory, permission mode and allowed tools a bloom of a
  hum started in one of this device's projects runs with.

Only a project's name, worker and permission mode cross a link; its directory
(and the tools allowed without asking) stay on the device that registered it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hum.core.hum import Hum
from hum.errors import BadTone, RouteError
from hum.wire.tones import Tone, sigil

# A project is named like a file, never like a path: letters, digits, `.`, `_`
# and `-`, starting with a letter or digit (so `..`, `/etc` and `a/b` are no names).
PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# A device announces at most this many projects: far more than a person keeps
# (people asked for "20+"), few enough that the tone stays a few KB.
MAX_PROJECTS = 256
# Petals read to find the prompt that started a hum (a note may come first).
FIRST_PETALS = 4
# Keys of a nestler's prompt that are its envelope here, not part of the prompt sent to the project's device.
NESTLER_ENVELOPE = frozenset({"from", "to", "dusk", "bee", "wane"})


def valid_name(name: object) -> bool:
    return isinstance(name, str) and PROJECT_NAME.fullmatch(name) is not None and ".." not in name


@dataclass(frozen=True)
class Project:
    """A registered project. `directory` and `allow` are known only on the device that owns it."""

    name: str
    worker: str
    permission_mode: str | None = None
    allow: tuple[str, ...] = ()
    directory: str | None = None

    def wire(self) -> dict[str, Any]:
        """What crosses a link: never the directory."""
        return {"name": self.name, "worker": self.worker, "permissionMode": self.permission_mode}


@dataclass
class ProjectBook:
    """This humd's projects and its siblings', and the decisions about them."""

    me: str
    mine: dict[str, Project] = field(default_factory=dict)
    theirs: dict[str, dict[str, Project]] = field(default_factory=dict)  # device -> name -> project
    of_hum: dict[str, str] = field(default_factory=dict)  # sigil -> the project it was started in

    # -- the registry ------------------------------------------------------------

    def set_mine(self, projects: list[Project]) -> Tone:
        """This device's projects (from its home); returns the announcement to send to every peer."""
        self.mine = {p.name: p for p in projects}
        return self.announcement()

    def announcement(self) -> Tone:
        return Tone(chi="projects", projects=[p.wire() for p in self.mine.values()][:MAX_PROJECTS])

    def heard(self, peer: str, tone: Tone) -> None:
        """A sibling's `projects` tone: its whole list, replacing what it said before."""
        entries = tone.get("projects")
        if not isinstance(entries, list):
            raise BadTone("bad-field", "`projects` is a list of {name, worker, permissionMode}", tone.get("rid"))
        heard: dict[str, Project] = {}
        for entry in entries[:MAX_PROJECTS]:
            if not isinstance(entry, dict) or not valid_name(entry.get("name")) or not isinstance(entry.get("worker"), str):
                continue  # one bad entry does not hide the others
            mode = entry.get("permissionMode")
            heard[entry["name"]] = Project(entry["name"], entry["worker"], mode if isinstance(mode, str) else None)
        self.theirs[peer] = heard

    def listing(self, linked: Callable[[str], bool], names: Mapping[str, str]) -> list[dict[str, Any]]:
        """Every project of the ensemble known here, with where it lives (never a directory)."""
        out = []
        for device, projects in [(self.me, self.mine), *sorted(self.theirs.items())]:
            for project in sorted(projects.values(), key=lambda p: p.name):
                out.append(
                    {
                        **project.wire(),
                        "device": device,
                        "deviceName": names.get(device, ""),
                        "here": device == self.me,
                        "linked": device == self.me or linked(device),
                    }
                )
        return out

    # -- starting a hum in a project --------------------------------------------------

    def _owner(self, name: object, linked: Callable[[str], bool], rid: Any) -> tuple[str, Project]:
        if not valid_name(name):
            raise RouteError("unknown-project", f"{str(name)[:80]!r} is not a project name (a project is named, never a path)", rid)
        assert isinstance(name, str)
        if name in self.mine:
            return self.me, self.mine[name]
        owners = [(device, projects[name]) for device, projects in sorted(self.theirs.items()) if name in projects]
        if not owners:
            raise RouteError("unknown-project", f"no device of this ensemble has a project named {name!r} (see `hum project list`)", rid)
        reachable = [(device, project) for device, project in owners if linked(device)]
        if not reachable:
            raise RouteError("no-route", f"project {name!r} lives on device {owners[0][0][:8]}, which is not linked now", rid)
        if len(reachable) > 1:
            raise RouteError("ambiguous-project", f"devices {', '.join(d[:8] for d, _ in reachable)} each have a project named {name!r}", rid)
        return reachable[0]

    def place(self, tone: Tone, linked: Callable[[str], bool]) -> tuple[str, Tone]:
        """A nestler's prompt naming `project`: (the device that owns it, the prompt to run there).

        The prompt becomes a plain prompt by `sid` (given, or made here) and
        `nest` (the project's worker), so its sigil is known before the owner
        mints it; `project` stays in the prompt petal's body.
        """
        rid = tone.get("rid")
        if tone.get("sigil") is not None:
            raise BadTone("bad-field", "a prompt names a `project` to start a new hum, not with a `sigil`", rid)
        device, project = self._owner(tone.get("project"), linked, rid)
        sid = tone.get("sid")
        if sid is None:
            sid = f"{project.name}-{secrets.token_hex(6)}"
        elif not isinstance(sid, str) or not sid:
            raise BadTone("bad-field", "`sid` must be a non-empty string", rid)
        # the envelope stays behind: on a link `from` must name this humd, and a nestler's `dusk` is its own
        placed = Tone({k: v for k, v in tone.items() if k not in NESTLER_ENVELOPE})
        placed.update(sid=sid, nest=project.worker, project=project.name)
        self.of_hum[sigil(project.worker, sid)] = project.name
        return device, placed

    def minted_here(self, tone: Tone) -> tuple[str, str]:
        """A sibling routed a project prompt here: the (sid, nest) of the hum to mint."""
        name, sid, rid = tone.get("project"), tone.get("sid"), tone.get("rid")
        if not valid_name(name) or name not in self.mine:
            raise RouteError("unknown-project", f"this device has no project named {str(name)[:80]!r}", rid)
        if not isinstance(sid, str) or not sid:
            raise BadTone("missing-field", "a project prompt needs a `sid`", rid)
        project = self.mine[str(name)]
        self.of_hum[sigil(project.worker, sid)] = project.name
        return sid, project.worker

    # -- blooms ------------------------------------------------------------------------

    def project_of(self, hum: Hum) -> str | None:
        """The project hum was started in (its first prompt says), if any."""
        if hum.sigil not in self.of_hum:
            first = next((p for p in hum.since(0, FIRST_PETALS) if p.chi == "prompt"), None)
            name = first.body.get("project") if first is not None else None
            if not isinstance(name, str):
                return None
            self.of_hum[hum.sigil] = name
        return self.of_hum[hum.sigil]

    def worker_of(self, hum: Hum) -> str | None:
        """The worker a bloom of `hum` runs on when it was started in one of this device's projects."""
        name = self.project_of(hum)
        project = self.mine.get(name) if name and hum.home == self.me else None
        return project.worker if project else None

    def worker_options(self, hum: Hum | None) -> dict[str, Any]:
        """The worker settings of `hum`'s project on this device: its directory, permission mode, allowed tools."""
        name = self.project_of(hum) if hum is not None and hum.home == self.me else None
        project = self.mine.get(name) if name else None
        if project is None or project.directory is None:
            return {}
        options: dict[str, Any] = {"cwd": project.directory}
        if project.permission_mode:
            options["permission_mode"] = project.permission_mode
        if project.allow:
            options["allowed_tools"] = list(project.allow)
        return options
