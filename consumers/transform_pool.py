"""The writer's pure transform (parse, re-price, build rows) in worker processes.

Ingest and writer share one process in embedded mode (chDB allows one process per data
dir), so their Python work competes for one GIL. The transform is pure and its input and
output are bytes and lists, so it moves to a worker process cheaply; ClickHouse calls stay
in the writer. Workers are spawned (not forked: the parent holds chDB and threads) and die
with their parent.

Supervised: a worker that dies (killed, out of memory) breaks the pool; the pool is started
again with backoff, counted in ``costobs_child_restarts_total{child="transform_worker"}``, and
the batch is transformed again (the transform is pure, so repeating it is harmless). After
``restart_limit`` failures in a row the writer cannot continue and says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from consumers.processor import MessageRows, Price, transform
from costobs_server import metrics
from costobs_server.errors import CostObsError

log = logging.getLogger(__name__)

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
    def __init__(self, processes: int, metadata_url: str | None, restart_limit: int = 5) -> None:
        self._processes = processes
        self._metadata_url = metadata_url
        self.restart_limit = restart_limit
        self.restarts = 0
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._metadata_url,),
        )

    async def transform(self, batch: list[tuple[bytes, int]]) -> list[MessageRows | str]:
        failed = 0
        while True:
            try:
                return await self._transform(batch)
            except BrokenProcessPool as exc:
                failed += 1
                if failed > self.restart_limit:
                    raise CostObsError(
                        f"the writer's transform workers keep dying ({failed} failures in a "
                        f"row, COSTOBS_CHILD_RESTART_LIMIT={self.restart_limit}): {exc}"
                    ) from exc
                delay = min(0.2 * 2**failed, 10.0)
                log.error("a transform worker died (%s); restarting in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                old, self._executor = self._executor, self._start()
                old.shutdown(wait=False, cancel_futures=True)
                self.restarts += 1
                metrics.CHILD_RESTARTS.labels("transform_worker").inc()

    async def _transform(self, batch: list[tuple[bytes, int]]) -> list[MessageRows | str]:
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
