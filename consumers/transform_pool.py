"""The writer's pure transform (parse, re-price, build rows) in worker processes.

Ingest and writer share one process in embedded mode (chDB allows one process per data
dir), so their Python work competes for one GIL. The transform is pure and its input and
output are bytes and lists, so it moves to a worker process cheaply; ClickHouse calls stay
in the writer. Workers are spawned (not forked: the parent holds chDB and threads) and die
with their parent.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

from consumers.processor import MessageRows, Price, transform

_price: Price | None = None


def _init_worker(metadata_url: str | None) -> None:
    global _price
    if sys.platform == "linux":
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    from consumers.pricer import Pricer

    overrides = None
    if metadata_url:
        from costobs_server.metadata.db import MetadataDB

        overrides = MetadataDB.connect(metadata_url).price_overrides
    _price = Pricer(overrides=overrides)


def _transform(batch: list[tuple[bytes, int]]) -> list[MessageRows | str]:
    assert _price is not None, "worker not initialised"
    return transform(batch, _price)


class TransformPool:
    def __init__(self, processes: int, metadata_url: str | None) -> None:
        self._executor = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(metadata_url,),
        )
        self._processes = processes

    async def transform(self, batch: list[tuple[bytes, int]]) -> list[MessageRows | str]:
        loop = asyncio.get_running_loop()
        if self._processes == 1 or len(batch) < 2 * self._processes:
            return await loop.run_in_executor(self._executor, _transform, batch)
        step = -(-len(batch) // self._processes)
        parts = [batch[i : i + step] for i in range(0, len(batch), step)]
        results = await asyncio.gather(
            *(loop.run_in_executor(self._executor, _transform, part) for part in parts)
        )
        return [outcome for part in results for outcome in part]

    def warm_up(self) -> None:
        """Start the workers now (their imports take a second) rather than on first flush."""
        self._executor.submit(_transform, []).result()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
