"""Fan-out benchmark, kept out of the test run: ``python -m tests.workflows.bench_fan_out``.

    python -m tests.workflows.bench_fan_out --participants 1000 --window 50 --per-run 300

Runs a cycle of N fake participants on a fresh time-skipping server with the real worker
(sandbox included), waits for every child to be up, cancels, waits for every child to end, and
checks the window and continue-as-new bounds. About 50 s for 1,000 on a 2-CPU machine: the
cost is the Python worker, one sandboxed workflow per participant. 100,000 is a load test for
a real cluster with several workers, not for this script.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from tests.workflows.fakes import fresh_time_skipping_env
from tests.workflows.test_review_cycle import fan_out


async def main(participants: int, window: int, per_run: int, page_size: int) -> None:
    began = time.monotonic()
    async with fresh_time_skipping_env() as env:
        result, fakes, _ = await fan_out(
            env,
            f"bench-{uuid.uuid4().hex[:8]}",
            participants=participants,
            window=window,
            children_per_run=per_run,
            page_size=page_size,
        )
    elapsed = time.monotonic() - began
    print(
        f"{participants} participants in {elapsed:.1f}s: runs={result.runs} "
        f"max_starting={result.max_starting} (window {window}) max_creating={fakes.max_creating} "
        f"max_started_in_a_run={result.max_started_in_a_run} (limit {per_run}) ended={result.ended}"
    )
    assert result.max_starting <= window
    assert fakes.max_creating <= window
    assert result.max_started_in_a_run <= per_run
    assert result.ended == participants == len(fakes.tasks)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--per-run", type=int, default=300)
    parser.add_argument("--page-size", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.participants, args.window, args.per_run, args.page_size))
