"""The hot path through real humd processes: hops, fan-out, durable throughput, replay and memory.

A laptop humd (the home) and a phone humd paired with it over loopback TLS;
the upstream is `FakeUpstream`, whose chunks carry the moment they were sent,
so each tap (a raw thrum client here) knows how long each chunk took.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hum.daemon.home import Home
from hum.demo.bench import baselines
from hum.demo.bench.measure import Tap, cpu_seconds, percentile, rss_kb
from hum.demo.bench.upstream import ask
from hum.demo.roam_real import HumdProcess, free_port, hum_command, pair_devices


@dataclass
class Rig:
    """The two humds of the hot path and the nestler that prompts on the laptop."""

    workdir: Path
    laptop: HumdProcess = field(init=False)
    phone: HumdProcess = field(init=False)
    prompter: Tap = field(init=False)
    minted: int = 0

    async def start(self) -> None:
        self.laptop = await start_humd(self.workdir / "laptop")
        self.phone = HumdProcess(self.workdir / "phone", free_port(), worker="openai")
        try:
            await pair_devices(self.laptop, self.phone.home)
            await self.phone.start()
            await self.laptop.wait_peers(lambda p: p == [self.phone.info["humdId"]])
            await self.phone.wait_peers(lambda p: p == [self.laptop.info["humdId"]])
            self.prompter = await Tap.open(self.laptop.thrum, "bench-prompter")
        except BaseException:  # a rig that did not come up leaves no humd running
            await self.phone.stop()
            await self.laptop.stop()
            raise

    def said(self) -> str:
        """Whether each humd still runs and the last it said on stderr: for a run that went wrong."""
        parts = []
        for humd in (self.laptop, self.phone):
            code = humd.proc.returncode if humd.proc is not None else None
            tail = "\n    ".join(humd.said().strip().splitlines()[-12:]) or "(nothing)"
            parts.append(f"the {humd.home.name}'s humd ({'running' if code is None else f'exited {code}'}) said:\n    {tail}")
        return "\n".join(parts)

    async def stop(self) -> None:
        self.prompter.close()
        await self.phone.stop()
        await self.laptop.stop()

    @property
    def store_path(self) -> Path:
        return Home(self.laptop.home).store_path

    async def mint(self, sid: str) -> tuple[str, int]:
        """A new hum on the laptop with one short bloom: (its sigil, its last wane)."""
        self.minted += 1
        sid = f"{sid}-{self.minted}"
        self.prompter.send({"chi": "prompt", "sid": sid, "text": ask(1), "rid": sid})
        hello = await self.prompter.until(lambda t: t.get("chi") == "hello")
        finish = await self.prompter.until(lambda t: t.get("chi") == "finish" and t.get("sigil") == hello["sigil"])
        return hello["sigil"], finish["wane"]

    async def bloom(self, sigil: str, text: str) -> None:
        self.prompter.send({"chi": "prompt", "sigil": sigil, "text": text, "rid": sigil})

    async def finished(self, sigil: str) -> dict[str, Any]:
        return await self.prompter.until(lambda t: t.get("chi") == "finish" and t.get("sigil") == sigil)


async def start_humd(home: Path) -> HumdProcess:
    init = await asyncio.create_subprocess_exec(
        *hum_command(), "operator", "init", "--home", str(home), "--name", home.name, "--json",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await init.communicate()
    if init.returncode != 0:
        raise RuntimeError(f"hum operator init failed: {err.decode().strip()}")
    humd = HumdProcess(home, free_port(), worker="openai")
    await humd.start()
    return humd


async def attach(thrum: Path, sigil: str, since: int, bee: str) -> Tap:
    tap = await Tap.open(thrum, bee)
    tap.send({"chi": "attach", "sigil": sigil, "since": since, "rid": "a"})
    await tap.until(lambda t: t.get("chi") == "hello")
    return tap


async def hops(rig: Rig, upstream: str, chunks: int, paces: tuple[float, ...]) -> dict[str, dict[float, float]]:
    """p99 (ms) of a chunk from the upstream to a laptop tap, the phone's extra over that, and (at
    the same time, so under the same load) of a client reading the upstream directly, per pace."""
    sigil, wane = await rig.mint("hops")
    local = await attach(rig.laptop.thrum, sigil, wane, "bench-local")
    remote = await attach(rig.phone.thrum, sigil, wane, "bench-remote")
    out: dict[str, dict[float, float]] = {"local": {}, "ensemble": {}, "direct": {}}
    for pace in paces:
        local.delays_ms.clear()
        local.arrivals.clear()
        remote.arrivals.clear()
        await rig.bloom(sigil, ask(chunks, pace))
        *_, direct = await asyncio.gather(
            rig.finished(sigil),
            local.until(lambda t: t.get("chi") == "finish"),
            remote.until(lambda t: t.get("chi") == "finish"),
            baselines.direct(upstream, chunks, pace),
        )
        out["direct"][pace] = percentile(direct, 0.99)
        extra = [(at - local.arrivals[w]) / 1e6 for w, at in remote.arrivals.items() if w in local.arrivals]
        out["local"][pace] = percentile(local.delays_ms, 0.99)
        out["ensemble"][pace] = percentile(extra, 0.99)
    local.close()
    remote.close()
    return out


async def flat_out(rig: Rig, sizes: tuple[int, ...]) -> dict[str, Any]:
    """One flat-out bloom per size: petals/s reaching a tap, the laptop's RSS growth, replays on both humds."""
    out: dict[str, Any] = {"replay_home_s": {}, "sigils": {}}
    for size in sizes:
        sigil, _ = await rig.mint(f"flat-{size}")
        rss_before, cpu_before = rss_kb(rig.laptop.info["pid"]), cpu_seconds(rig.laptop.info["pid"])
        await rig.bloom(sigil, ask(size))
        lines, seconds, finish = await rig.prompter.count_until_finish()
        out["durable_petals_s"] = lines / seconds
        out["cpu_us_per_durable_petal"] = (cpu_seconds(rig.laptop.info["pid"]) - cpu_before) * 1e6 / lines
        out["rss_growth_mb"] = (rss_kb(rig.laptop.info["pid"]) - rss_before) / 1024
        home = await Tap.open(rig.laptop.thrum, "bench-replay")
        home.send({"chi": "attach", "sigil": sigil, "since": 0, "rid": "r"})
        petals, seconds, _ = await home.count_until_finish(finish["wane"])
        home.close()
        out["replay_home_s"][size] = seconds
        out["replay_home_petals_s"] = petals / seconds
        out["sigils"][size] = sigil
    sigil = out["sigils"][sizes[-1]]
    fresh = await Tap.open(rig.phone.thrum, "bench-fresh")
    fresh.send({"chi": "attach", "sigil": sigil, "since": 0, "rid": "r"})
    petals, seconds, _ = await fresh.count_until_finish(finish["wane"])
    fresh.close()
    out["replay_fresh_device_petals_s"] = petals / seconds
    return out


async def fanout(rig: Rig, taps: int, chunks: int, pace: float) -> float:
    """p99 (ms) from the upstream to each of `taps` laptop taps of one hum."""
    sigil, wane = await rig.mint(f"fanout-{taps}")
    clients = [await attach(rig.laptop.thrum, sigil, wane, f"bench-fan-{i}") for i in range(taps)]
    await rig.bloom(sigil, ask(chunks, pace))
    await asyncio.gather(rig.finished(sigil), *(c.until(lambda t: t.get("chi") == "finish") for c in clients))
    for c in clients:
        c.close()
    return percentile([d for c in clients for d in c.delays_ms], 0.99)

