"""Record a workflow history for the replay tests: ``python -m tests.workflows.record_history``.

Starts a dev server, runs each workflow once, writes ``histories/<name>.json``. Re-record only
when adding a workflow type; old histories stay to prove new code still replays them.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.support.processes import TemporalServer
from workflows.ping import PingInput, PingWorkflow
from workflows.worker import build_worker

HISTORIES = Path(__file__).parent / "histories"


async def record() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        server = TemporalServer(workdir=Path(workdir))
        server.start()
        try:
            client = await Client.connect(server.address, data_converter=pydantic_data_converter)
            async with build_worker(client, "record"):
                handle = await client.start_workflow(
                    PingWorkflow.run,
                    PingInput(message="recorded"),
                    id=f"ping-{uuid.uuid4()}",
                    task_queue="record",
                )
                await handle.result()
            history = await handle.fetch_history()
            (HISTORIES / "ping_v1.json").write_text(history.to_json())
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(record())
