"""Real `hum up --worker openai` processes in front of the bench's fake OpenAI upstream."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hum.demo.roam_real import HumdProcess, free_port, hum_command


async def openai_humd(home: Path, start: bool = True) -> HumdProcess:
    """A new home (operator key and identity) and, unless `start` is False, its running humd."""
    init = await asyncio.create_subprocess_exec(
        *hum_command(), "operator", "init", "--home", str(home), "--name", home.name, "--json",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await init.communicate()
    assert init.returncode == 0, err
    humd = HumdProcess(home, free_port(), worker="openai")
    if start:
        await humd.start()
    return humd
