"""Notifications from a real `hum up`: `hum notify` (show, set, quiet, test), `--notify` channels, `hum attach` as watching, HTTPS."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
import sys
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from humd_helpers import HUM, HumUp, file_mode, hum, init_home, one_line_error, wait_until

from hum.demo.push_service import PushService

sys.path.insert(0, str(Path(__file__).parent.parent / "surfaces"))
from notify_helpers import NtfyDouble  # noqa: E402 - the surface tests' ntfy server

# A bloom of the scripted worker, a push, and the CLI's start-up, on a busy machine.
WAIT = 30.0


async def cli(*args: str, home: Path) -> tuple[int, str, str]:
    done = await asyncio.to_thread(hum, *args, home=home)
    return done.returncode, done.stdout, done.stderr


async def test_hum_notify_sets_what_is_pushed_and_its_test_says_which_channel_failed(tmp_path):
    ntfy = await NtfyDouble().start()
    home = init_home(tmp_path / "laptop")
    up = await asyncio.to_thread(HumUp, home, "--notify", f"ntfy://{ntfy.address}/laptop", "--notify", "ntfy://127.0.0.1:9/nobody-listens")
    try:
        assert file_mode(home / "vapid.pem") == 0o600 and file_mode(home / "notify.sqlite") == 0o600
        code, out, err = await cli("notify", "test", home=home)
        assert code == 1, err
        sent, failed = out.strip().splitlines()
        assert sent.startswith("sent") and "apprise" in sent
        assert failed.startswith("FAILED") and "ntfy://127.0.0.1:9/" in failed and "nobody-listens" not in failed  # no topic or token shown
        assert [m["title"] for m in ntfy.messages] == ["hum: test notification"]

        code, out, err = await cli("notify", "set", "asks", home=home)
        assert code == 0 and "this device pushes: asks only" in out, err
        code, out, err = await cli("notify", "set", "all", "--hum", "0123456789ab", home=home)
        assert code == 0 and "hum 0123456789ab: asks and finishes" in out, err
        code, out, err = await cli("notify", "quiet", "22:00", "07:30", home=home)
        assert code == 0 and "quiet hours: 22:00-07:30" in out, err
        code, out, err = await cli("notify", "show", "--json", home=home)
        shown = json.loads(out)
        assert (shown["level"], shown["hums"], shown["quiet"], shown["channels"]) == ("asks", {"0123456789ab": "all"}, {"start": "22:00", "end": "07:30"}, 2)

        assert "a time of day is from 00:00 to 23:59" in one_line_error(await asyncio.to_thread(hum, "notify", "quiet", "25:00", "07:00", home=home))
        assert "default" in one_line_error(await asyncio.to_thread(hum, "notify", "set", "default", home=home))
        code, out, _ = await cli("notify", "show", "--json", home=home)
        assert json.loads(out)["quiet"] == {"start": "22:00", "end": "07:30"}  # a refused change changed nothing
    finally:
        await asyncio.to_thread(up.stop)
        await ntfy.close()


async def test_a_running_hum_attach_is_watching_and_hum_prompt_no_wait_is_not(tmp_path):
    push = await PushService().start()
    home = init_home(tmp_path / "laptop")
    up = await asyncio.to_thread(HumUp, home)
    attach = None
    try:
        push.vapid_key = up.get("/hum/push/key")["publicKey"]
        status, made = up.request("POST", "/hum/push/subscriptions", json.dumps(push.subscription("browser")).encode(), {"Content-Type": "application/json"})
        assert status == 201, made
        code, out, err = await cli("prompt", "--sid", "watched", "--no-wait", "first", home=home)
        assert code == 0, err
        sg = out.strip().split()[-1]
        await push.wait_for(lambda got: len(got) == 1, WAIT)  # nobody watched the first bloom: its finish is pushed
        first = push.payloads("browser", "finish")[0]["wane"]

        attach = await asyncio.create_subprocess_exec(*HUM, "attach", sg, "--since", str(first), "--home", str(home), stdout=asyncio.subprocess.DEVNULL)
        await asyncio.to_thread(wait_until, lambda: up.get("/hum/hums")["hums"][0]["seen"] >= first, WAIT, "hum attach read the hum")
        await cli("prompt", "--sigil", sg, "--no-wait", "second, while attached", home=home)

        def read_to_the_end() -> bool:
            (h,) = up.get("/hum/hums")["hums"]
            return h["wane"] > first + 2 and h["seen"] == h["wane"]  # the second bloom finished, and attach showed it

        await asyncio.to_thread(wait_until, read_to_the_end, WAIT, "hum attach showed the second bloom's end")
        attach.terminate()
        await attach.wait()
        attach = None

        await cli("prompt", "--sigil", sg, "--no-wait", "third, nobody watching", home=home)
        await push.wait_for(lambda got: len(push.payloads("browser", "finish")) == 2, WAIT)
        wanes = [p["wane"] for p in push.payloads("browser", "finish")]
        hums = up.get("/hum/hums")["hums"]
        assert wanes[0] == first and wanes[1] == hums[0]["wane"]  # the second bloom's finish was never pushed
        assert push.refused == []
    finally:
        if attach is not None:
            attach.terminate()
            await attach.wait()
        await asyncio.to_thread(up.stop)
        await push.close()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, as `tailscale cert` would give one for the tailnet name."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def test_hum_up_serves_https_with_a_certificate_and_the_cli_still_reaches_it(tmp_path):
    home = init_home(tmp_path / "laptop")
    cert, key = self_signed(tmp_path)
    with HumUp(home, "--tls-cert", str(cert), "--tls-key", str(key)) as up:
        assert up.http.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(up.http + "/hum/push/key", context=context, timeout=5) as r:
            assert len(json.loads(r.read())["publicKey"]) == 87  # 65 bytes, base64url
        with urllib.request.urlopen(up.http + "/sw.js", context=context, timeout=5) as r:
            assert r.headers["Content-Type"].startswith("text/javascript") and b'importScripts("sw-push.js"' in r.read()
        done = hum("status", "--json", home=home)
        assert done.returncode == 0 and json.loads(done.stdout)["http"] == up.http
    refused = hum("up", "--tls-cert", str(cert), "--listen", "none", "--thrum", str(tmp_path / "t.sock"), "--worker", "scripted", home=home)
    assert "--tls-cert and --tls-key go together" in one_line_error(refused)


def test_the_roam_story_with_notifications_passes_every_criterion():
    done = hum("demo", "roam", "--notify", "--real", "--json", timeout=120)
    result = json.loads(done.stdout)
    assert result["ok"], (result["criteria"], done.stderr)
    assert result["criteria"]["push_to_decision_under_1s"]["value"]["total_ms"] < 1000
    assert len(result["criteria"]) == 7
    assert one_line_error(hum("demo", "roam", "--notify")) == "hum: --notify runs between real processes: add --real"
