"""Notifications: an ask reaches the phone once, encrypted and signed; Allow from the push decides once; nothing twice."""

from __future__ import annotations

import time

import pytest
from notify_helpers import NtfyDouble, notified, until
from surface_helpers import FAST_TPS, WAIT, asking_brood, scripted_brood

from hum.demo.push_service import PushService
from hum.store.sqlite import SqliteStore
from hum.surfaces.notify import delivery
from hum.surfaces.notify.book import NotifyBook
from hum.surfaces.notify.notifier import CAPABILITY_SECONDS
from hum.surfaces.notify.policy import ask_tag


@pytest.fixture
async def push():
    service = await PushService().start()
    yield service
    await service.close()


@pytest.fixture
async def closing():
    """Notified humds to close after the test (before the sim's humds go)."""
    opened = []
    yield opened
    for n in reversed(opened):
        await n.close()


async def subscribe(http, served_at: str, push: PushService, name: str, notify: str = "all") -> str:
    async with http.get(f"{served_at}/hum/push/key") as r:
        push.vapid_key = (await r.json())["publicKey"]
    async with http.post(f"{served_at}/hum/push/subscriptions", json={**push.subscription(name), "notify": notify}) as r:
        assert r.status == 201, await r.text()
        return (await r.json())["id"]


async def post(http, url: str) -> tuple[int, dict]:
    async with http.post(url) as r:
        return r.status, await r.json()


async def test_an_ask_reaches_the_phone_once_and_allow_from_the_push_decides_once(sim, http, push, closing, tmp_path):
    laptop = await sim.spawn("laptop", brood=asking_brood(FAST_TPS))
    phone = await sim.spawn("phone")
    await sim.link(laptop, phone)
    at_phone = await notified(phone, tmp_path / "phone")
    closing.append(at_phone)
    await subscribe(http, at_phone.url, push, "phone")
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="tidy", text="tidy up the project")
    ask_petal = (await oc.wait_for(lambda t: t.chi == "permission-ask", timeout=WAIT)).tone
    await push.wait_for(lambda got: any(g["payload"]["kind"] == "ask" for g in got), WAIT)

    (ask,) = push.payloads("phone", "ask")
    sg, permit_id = ask_petal["sigil"], ask_petal["permitId"]
    assert {k: ask[k] for k in ("sigil", "wane", "permitId", "url")} == {
        "sigil": sg, "wane": ask_petal["wane"], "permitId": permit_id, "url": f"{at_phone.url}/#/hum/{sg}",
    }
    assert ask["title"] == "tidy up the project needs you" and "Bash" in ask["body"]
    assert [(a["action"], a["title"]) for a in ask["actions"]] == [("allow", "Allow"), ("deny", "Deny")]
    allow, deny = (a["url"] for a in ask["actions"])
    assert allow.startswith(f"{at_phone.url}/hum/push/answers/{permit_id}/")
    token = allow.rsplit("/", 1)[1]

    # forged, or bound to another ask: refused, and nothing is decided
    assert (await post(http, f"{at_phone.url}/hum/push/answers/{permit_id}/forged-{token[7:]}"))[0] == 404
    status, said = await post(http, f"{at_phone.url}/hum/push/answers/another-ask/{token}")
    assert (status, said["error"]["code"]) == (403, "wrong-permit")
    assert not any(p.chi == "permit" for p in laptop.hums[sg].petals)

    status, said = await post(http, allow)
    assert status == 200 and (said["decision"], said["from"]) == ("allow", phone.id)
    for again in (allow, deny):
        status, said = await post(http, again)
        assert (status, said["error"]["code"]) == (409, "already-decided")
    await oc.wait_for(lambda t: t.chi == "finish", timeout=WAIT)
    permits = [p.body for p in laptop.hums[sg].petals if p.chi == "permit"]
    assert [(p["permitId"], p["decision"], p["device"]) for p in permits] == [(permit_id, "allow", phone.id)]
    # the ask's notification is withdrawn by its tag, and the finish (nobody watching) arrives once
    await push.wait_for(lambda got: len(push.payloads("phone", "finish")) == 1 and push.payloads("phone", "withdraw"), WAIT)
    assert [w["tag"] for w in push.payloads("phone", "withdraw")] == [ask_tag(sg, permit_id)]
    assert len(push.payloads("phone", "ask")) == 1 and push.refused == []
    assert {g["ttl"] for g in push.received} == {delivery.PUSH_TTL}


async def test_an_ask_answered_elsewhere_is_withdrawn_and_an_expired_capability_decides_nothing(sim, http, push, closing, tmp_path):
    laptop = await sim.spawn("laptop", brood=asking_brood(FAST_TPS))
    phone = await sim.spawn("phone")
    await sim.link(laptop, phone)
    # the phone's clock runs two capability lifetimes behind: what it grants has expired already
    at_phone = await notified(phone, tmp_path / "phone", clock=lambda: time.time() - 2 * CAPABILITY_SECONDS)
    closing.append(at_phone)
    await subscribe(http, at_phone.url, push, "phone", notify="asks")
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="tidy", text="tidy up the project")
    await push.wait_for(lambda got: len(got) == 1, WAIT)
    (ask,) = push.payloads("phone", "ask")
    at_phone.notifier.clock = time.time
    status, said = await post(http, ask["actions"][0]["url"])
    assert (status, said["error"]["code"]) == (403, "expired-capability")
    sg = ask["sigil"]
    assert not any(p.chi == "permit" for p in laptop.hums[sg].petals)

    oc.send("release-permit", sigil=sg, permitId=ask["permitId"], decision="deny")  # answered on the laptop
    await push.wait_for(lambda got: push.payloads("phone", "withdraw"), WAIT)
    await oc.wait_for(lambda t: t.chi == "finish", timeout=WAIT)
    await until(lambda: (at_phone.notifier.book.cursor(sg) or 0) >= laptop.hums[sg].tip, WAIT, "the phone read the finish")
    kinds = [g["payload"]["kind"] for g in push.received]
    assert kinds == ["ask", "withdraw"]  # asks only: the finish is not pushed to this subscription


async def test_a_finish_reaches_each_subscription_once_across_a_home_restart_and_none_while_watched(sim, http, push, closing, tmp_path):
    store = tmp_path / "laptop.db"
    laptop_id = sim.identity("laptop")
    laptop = await sim.spawn("laptop", identity=laptop_id, brood=scripted_brood(FAST_TPS), store=SqliteStore(store))
    phone = await sim.spawn("phone")
    await sim.link(laptop, phone)
    at_laptop = await notified(laptop, tmp_path / "laptop")
    at_phone = await notified(phone, tmp_path / "phone")
    closing.extend([at_phone])
    await subscribe(http, at_laptop.url, push, "laptop-browser")
    await subscribe(http, at_phone.url, push, "phone-browser")
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="long", text="write the report")
    finish = (await oc.wait_for(lambda t: t.chi == "finish", timeout=WAIT)).tone
    sg = finish["sigil"]
    await push.wait_for(lambda got: len(got) == 2, WAIT)
    assert sorted(g["sub"] for g in push.received) == ["laptop-browser", "phone-browser"]
    assert {g["payload"]["wane"] for g in push.received} == {finish["wane"]}
    assert {g["payload"]["title"] for g in push.received} == {"write the report is done"}

    # the home dies and comes back; its notifier starts over from wane 0 and must not push the finish again
    await at_laptop.close()
    await sim.kill(laptop)
    laptop = await sim.spawn("laptop", identity=laptop_id, brood=scripted_brood(FAST_TPS), store=SqliteStore(store))
    await sim.link(laptop, phone)
    rewound = NotifyBook(tmp_path / "laptop" / "notify.sqlite")
    rewound.db.execute("UPDATE cursors SET wane = 0")
    rewound.close()
    at_laptop = await notified(laptop, tmp_path / "laptop")
    closing.append(at_laptop)
    tip = laptop.hums[sg].tip
    for n in (at_laptop, at_phone):
        await until(lambda n=n: (n.notifier.book.cursor(sg) or 0) >= tip, WAIT, "both notifiers read the hum again")
    assert len(push.received) == 2

    # watched on the phone's web chat: the next finish is pushed to nobody
    async with http.get(f"{at_phone.url}/hum/watch/{sg}") as watching:
        assert watching.status == 200
        await until(lambda: laptop.router.attention.watched(sg), WAIT, "the laptop heard that the phone watches")
        oc = sim.nestler(laptop, "opencode-2")
        oc.send("prompt", sigil=sg, text="and the summary?")
        second = (await oc.wait_for(lambda t: t.chi == "finish", timeout=WAIT)).tone
        for n in (at_laptop, at_phone):
            await until(lambda n=n: (n.notifier.book.cursor(sg) or 0) >= second["wane"], WAIT, "both notifiers read the second finish")
    assert [g["payload"]["wane"] for g in push.received if g["payload"]["kind"] == "finish"] == [finish["wane"]] * 2
    await until(lambda: phone.router.attention.mark(sg) >= second["wane"] and laptop.router.attention.mark(sg) >= second["wane"], WAIT, "the read mark reached the home and back")
    # read on the phone: the first finish's notification is taken back on both browsers, by its tag
    await push.wait_for(lambda got: len([g for g in got if g["payload"]["kind"] == "withdraw"]) == 2, WAIT)
    assert sorted((g["sub"], g["payload"]["tag"]) for g in push.received if g["payload"]["kind"] == "withdraw") == [
        ("laptop-browser", f"hum-{sg}"), ("phone-browser", f"hum-{sg}"),
    ]
    assert len(push.received) == 4 and push.refused == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"keys": {"p256dh": "x", "auth": "y"}}, "endpoint"),
        ({"endpoint": "http://push.example.com/x", "keys": {}}, "endpoint"),
        ({"endpoint": "https://push.example.com/x"}, "keys"),
        ({"endpoint": "https://push.example.com/x", "keys": {"p256dh": "not*b64", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "keys.p256dh"),
        ({"endpoint": "https://push.example.com/x", "keys": {"p256dh": "B" * 87, "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "keys.p256dh"),
        ({"endpoint": "https://push.example.com/x", "keys": {"p256dh": "BAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "keys.p256dh"),
        ({"endpoint": "https://push.example.com/x", "keys": {"p256dh": None, "auth": "AAAA"}}, "keys.p256dh"),
        ({"endpoint": "https://push.example.com/x", "keys": {"p256dh": "@good", "auth": "AAAA"}, "notify": "loud"}, "keys.auth"),
    ],
)
async def test_a_malformed_subscription_is_a_400_naming_the_field_and_nothing_is_kept(sim, http, closing, tmp_path, push, body, param):
    phone = await sim.spawn("phone")
    at_phone = await notified(phone, tmp_path / "phone")
    closing.append(at_phone)
    if body.get("keys", {}).get("p256dh") == "@good":
        body["keys"]["p256dh"] = push.subscription("x")["keys"]["p256dh"]
    async with http.post(f"{at_phone.url}/hum/push/subscriptions", json=body) as r:
        said = await r.json()
        assert (r.status, said["error"]["code"], said["error"]["param"]) == (400, "bad-subscription", param)
    async with http.delete(f"{at_phone.url}/hum/push/subscriptions/sub-0000") as r:
        assert r.status == 404
    assert at_phone.notifier.book.subscriptions() == []


async def test_a_push_service_that_answers_410_loses_the_subscription_and_one_that_stalls_keeps_it(sim, http, push, closing, tmp_path, monkeypatch):
    laptop = await sim.spawn("laptop", brood=scripted_brood(FAST_TPS))
    at_laptop = await notified(laptop, tmp_path / "laptop")
    closing.append(at_laptop)
    book = at_laptop.notifier.book
    monkeypatch.setattr(delivery, "PUSH_TIMEOUT", 0.3)
    await subscribe(http, at_laptop.url, push, "stalls")
    push.delay = 1.0
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="one", text="one")
    await until(lambda: at_laptop.notifier.failures, WAIT, "the stalled push failed")
    assert [s.endpoint.rsplit("/", 1)[1] for s in book.subscriptions()] == ["stalls"] and book.deliveries() == 0

    push.delay, push.status = 0.0, 410
    oc.send("prompt", sid="two", text="two")
    await until(lambda: book.subscriptions() == [], WAIT, "the 410 subscription was dropped")
    assert push.received == [] and book.deliveries() == 0


def ntfy_buttons(header: str) -> dict[str, str]:
    """ntfy's `X-Actions` as {label: url}; each action must be an HTTP POST that clears the notification."""
    buttons = {}
    for action in header.split(";"):
        kind, label, url, *opts = (part.strip() for part in action.split(","))
        assert kind == "http" and "method=POST" in opts and "clear=true" in opts
        buttons[label] = url
    return buttons


async def test_ntfy_gets_the_ask_with_its_link_and_buttons_and_a_button_approves_once(sim, http, closing, tmp_path):
    ntfy = await NtfyDouble().start()
    laptop = await sim.spawn("laptop", brood=asking_brood(FAST_TPS))
    # served as off loopback (`--http 0.0.0.0:PORT`): the ntfy app has no bearer token, its buttons need none
    at_laptop = await notified(laptop, tmp_path / "laptop", apprise=[f"ntfy://{ntfy.address}/hum-phone"], token="s3cret-token")
    closing.append(at_laptop)
    async with http.post(f"{at_laptop.url}/hum/push/subscriptions", json={}) as r:
        assert r.status == 401  # every other push route still needs the token
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="tidy", text="tidy up the project")
    ask = (await oc.wait_for(lambda t: t.chi == "permission-ask", timeout=WAIT)).tone
    await until(lambda: ntfy.messages, WAIT, "ntfy got the ask")
    (message,) = ntfy.messages
    assert (message["topic"], message["title"]) == ("hum-phone", "tidy up the project needs you")
    assert message["click"] == f"{at_laptop.url}/#/hum/{ask['sigil']}"
    buttons = ntfy_buttons(message["actions"])
    assert sorted(buttons) == ["Allow", "Deny"]
    forged = buttons["Allow"][: -8] + "AAAAAAAA"
    assert (await post(http, forged))[0] == 404
    status, said = await post(http, buttons["Allow"])
    assert status == 200 and said["decision"] == "allow"
    assert (await post(http, buttons["Allow"]))[0] == 409 and (await post(http, buttons["Deny"]))[0] == 409
    await oc.wait_for(lambda t: t.chi == "finish", timeout=WAIT)
    await until(lambda: len(ntfy.messages) == 2, WAIT, "ntfy got the finish")
    assert ntfy.messages[1]["title"] == "tidy up the project is done" and ntfy.messages[1]["actions"] is None
    assert [p.body["decision"] for p in laptop.hums[ask["sigil"]].petals if p.chi == "permit"] == ["allow"]
    await ntfy.close()


async def test_a_followed_homes_loss_and_return_are_pushed_when_asked_for(sim, http, push, closing, tmp_path):
    store = tmp_path / "laptop.db"
    laptop_id = sim.identity("laptop")
    laptop = await sim.spawn("laptop", identity=laptop_id, brood=scripted_brood(FAST_TPS), store=SqliteStore(store))
    phone = await sim.spawn("phone")
    await sim.link(laptop, phone)
    at_phone = await notified(phone, tmp_path / "phone")
    closing.append(at_phone)
    await subscribe(http, at_phone.url, push, "phone")
    async with http.post(f"{at_phone.url}/hum/push/choices", json={"homes": "yes"}) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (400, "bad-choice")
    async with http.post(f"{at_phone.url}/hum/push/choices", json={"homes": True, "level": "all"}) as r:
        assert r.status == 200 and (await r.json())["homes"] is True
    oc = sim.nestler(laptop, "opencode")
    oc.send("prompt", sid="far", text="build it")
    finish = (await oc.wait_for(lambda t: t.chi == "finish", timeout=WAIT)).tone
    await push.wait_for(lambda got: push.payloads("phone", "finish"), WAIT)

    await sim.kill(laptop)
    await push.wait_for(lambda got: push.payloads("phone", "home-lost"), WAIT)
    laptop = await sim.spawn("laptop", identity=laptop_id, brood=scripted_brood(FAST_TPS), store=SqliteStore(store))
    await sim.link(laptop, phone)
    await push.wait_for(lambda got: push.payloads("phone", "home-back"), WAIT)
    (lost,), (back,) = push.payloads("phone", "home-lost"), push.payloads("phone", "home-back")
    assert (lost["sigil"], lost["title"], lost["body"]) == (finish["sigil"], "build it lost its home", "laptop cannot be reached.")
    assert back["title"] == "build it is back" and back["tag"] == lost["tag"]
