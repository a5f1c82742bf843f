"""A stranger who dials the ensemble port learns no names; siblings learn them inside the link."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import sys

from cryptography import x509

from hum.demo.roam_real import HumdProcess, free_port, pair_devices

HUM = [sys.executable, "-m", "hum.cli"]


def test_the_ensemble_certificate_names_nobody_and_siblings_learn_names_over_the_link(tmp_path):
    laptop_home, phone_home = tmp_path / "laptop", tmp_path / "phone"
    init = subprocess.run([*HUM, "operator", "init", "--name", "alices-laptop", "--home", str(laptop_home)], capture_output=True, text=True)
    assert init.returncode == 0, init.stderr

    async def story() -> None:
        laptop = HumdProcess(laptop_home, free_port())
        await laptop.start()
        phone = None
        try:
            # a stranger: any TLS client, no certificate, no trust
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            with socket.create_connection(("127.0.0.1", laptop.port), timeout=5) as raw, context.wrap_socket(raw) as tls:
                der = tls.getpeercert(binary_form=True)
            assert der is not None and b"alices" not in der
            cert = x509.load_der_x509_certificate(der)
            assert [a.value for a in cert.subject] == [laptop.info["humdId"]]
            assert [a.value for a in cert.issuer][0] == "hum operator"
            # a sibling, once linked, knows the laptop by the name its person gave it
            await pair_devices(laptop, phone_home)
            phone = HumdProcess(phone_home, free_port())
            await phone.start()
            await phone.wait_peers(lambda p: p == [laptop.info["humdId"]])
            names = phone.get("/hum/peers")["names"]
            assert names == {laptop.info["humdId"]: "alices-laptop"}
            status = json.loads(subprocess.run([*HUM, "status", "--json", "--home", str(laptop_home)], capture_output=True, text=True).stdout)
            assert status["name"] == "alices-laptop"
        finally:
            if phone is not None:
                await phone.stop()
            await laptop.stop()

    asyncio.new_event_loop().run_until_complete(story())
