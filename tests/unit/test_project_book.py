"""The ensemble's project registry as one humd knows it: what crosses a link, and where a project prompt goes."""

from __future__ import annotations

import pytest

from hum.errors import BadTone, RouteError
from hum.node.projects import Project, ProjectBook
from hum.wire.tones import Tone, sigil

ME, LAPTOP, DESKTOP = "a" * 64, "b" * 64, "c" * 64
API = Project("api", "claude-cli", "acceptEdits", ("Read",), "/home/me/src/api")


def book_with_laptop_projects(*names: str) -> ProjectBook:
    book = ProjectBook(ME)
    book.heard(LAPTOP, Tone(chi="projects", projects=[{"name": n, "worker": "claude-cli", "permissionMode": None} for n in names]))
    return book


def test_only_names_workers_and_modes_cross_a_link():
    said = ProjectBook(ME).set_mine([API])
    assert said == {"chi": "projects", "projects": [{"name": "api", "worker": "claude-cli", "permissionMode": "acceptEdits"}]}
    assert "/home/me" not in str(said) and "Read" not in str(said)


def test_a_sibling_list_replaces_what_it_said_before_and_bad_entries_are_left_out():
    book = book_with_laptop_projects("api", "blog")
    book.heard(LAPTOP, Tone(chi="projects", projects=[{"name": "api", "worker": "openai"}, {"name": "../etc", "worker": "x"}, "junk", {"name": "ok"}]))
    listing = book.listing(lambda device: True, {LAPTOP: "laptop"})
    assert [(p["name"], p["worker"], p["deviceName"]) for p in listing] == [("api", "openai", "laptop")]
    with pytest.raises(BadTone):
        book.heard(LAPTOP, Tone(chi="projects", projects="api"))


def test_a_project_prompt_goes_to_the_device_that_owns_it_as_a_prompt_by_sid():
    book = book_with_laptop_projects("api")
    asked = Tone(chi="prompt", project="api", text="run the tests", rid=1, reqId="r1", dusk=10**15, **{"from": "opencode"})
    home, placed = book.place(asked, lambda device: device == LAPTOP)
    assert home == LAPTOP
    assert "from" not in placed and "dusk" not in placed and (placed["rid"], placed["reqId"], placed["text"]) == (1, "r1", "run the tests")
    assert placed["nest"] == "claude-cli" and placed["sid"].startswith("api-") and placed["project"] == "api"
    assert book.of_hum[sigil("claude-cli", placed["sid"])] == "api"


def test_this_devices_own_project_is_started_here():
    book = ProjectBook(ME)
    book.set_mine([API])
    home, placed = book.place(Tone(chi="prompt", project="api", sid="mine", text="x"), lambda device: False)
    assert (home, placed["sid"]) == (ME, "mine")


@pytest.mark.parametrize(
    ("name", "qualifier", "says"),
    [
        ("nope", "unknown-project", "'nope'"),
        ("../etc", "unknown-project", "never a path"),
        ("/etc/passwd", "unknown-project", "never a path"),
        ("a/b", "unknown-project", "never a path"),
        ("..", "unknown-project", "never a path"),
        (7, "unknown-project", "never a path"),
    ],
)
def test_unknown_and_directory_like_names_are_refused_with_their_name(name, qualifier, says):
    book = book_with_laptop_projects("api")
    with pytest.raises(RouteError) as refused:
        book.place(Tone(chi="prompt", project=name, text="x", rid=9), lambda device: True)
    assert refused.value.qualifier == qualifier and says in refused.value.message and refused.value.rid == 9
    assert not book.of_hum


def test_a_project_on_a_device_not_linked_now_is_no_route():
    book = book_with_laptop_projects("api")
    with pytest.raises(RouteError) as refused:
        book.place(Tone(chi="prompt", project="api", text="x"), lambda device: False)
    assert refused.value.qualifier == "no-route" and "'api'" in refused.value.message


def test_the_same_name_on_two_linked_devices_is_ambiguous():
    book = book_with_laptop_projects("api")
    book.heard(DESKTOP, Tone(chi="projects", projects=[{"name": "api", "worker": "local"}]))
    with pytest.raises(RouteError) as refused:
        book.place(Tone(chi="prompt", project="api", text="x"), lambda device: True)
    assert refused.value.qualifier == "ambiguous-project"


def test_a_sibling_may_mint_only_in_a_project_registered_here():
    book = ProjectBook(ME)
    book.set_mine([API])
    assert book.minted_here(Tone(chi="prompt", project="api", sid="s1", text="x")) == ("s1", "claude-cli")
    with pytest.raises(RouteError):
        book.minted_here(Tone(chi="prompt", project="../api", sid="s2", text="x"))
    with pytest.raises(BadTone):
        book.minted_here(Tone(chi="prompt", project="api", text="x"))
