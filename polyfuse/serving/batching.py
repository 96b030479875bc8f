"""Dynamic micro-batching: concurrent requests share one model call, off the event loop.

Each request puts its rows on a bounded queue and awaits a future. One collector task takes the
first waiting request, then every request already queued, then waits up to ``max_wait`` for more,
until ``max_batch`` rows are gathered; the batch runs in a single inference thread while the event
loop keeps accepting requests (which form the next batch). A request that would push the queue
past ``max_queue`` rows is refused at once with :class:`QueueFullError` (the server answers 503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger("polyfuse.serving")

Row = TypeVar("Row")
Result = TypeVar("Result")


class QueueFullError(RuntimeError):
    """The queue holds ``max_queue`` rows already: try again later."""


@dataclass
class _Pending(Generic[Row, Result]):
    rows: Sequence[Row]
    future: asyncio.Future[list[Result]] = field(repr=False)
    counted: bool = True
    """Whether its rows still count in the queue (until gathered, or given up by the caller)."""


class MicroBatcher(Generic[Row, Result]):
    """Gathers rows of concurrent requests into batches for ``predict_batch``.

    Args:
        predict_batch: rows -> one result per row, in order; runs in the inference thread.
        max_batch: most rows per call (a larger request still runs, alone).
        max_wait_s: longest wait for more rows once a first request is waiting.
        max_queue: most rows waiting; beyond it :meth:`submit` raises :class:`QueueFullError`.
        on_batch: called with each batch's row count (metrics).
        join_requests: whether rows of different requests may share a call (off for models whose
            answer for a row depends on the rows beside it or its position).
    """

    def __init__(
        self,
        predict_batch: Callable[[list[Row]], list[Result]],
        max_batch: int,
        max_wait_s: float,
        max_queue: int,
        on_batch: Callable[[int], None] | None = None,
        join_requests: bool = True,
    ) -> None:
        self.predict_batch = predict_batch
        self.join_requests = join_requests
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.queued_rows = 0
        self._queue: asyncio.Queue[_Pending[Row, Result]] | None = None
        self._carry: _Pending[Row, Result] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def running(self) -> bool:
        """Whether the collector task is alive."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start the collector and the inference thread (on the running event loop)."""
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="polyfuse-inference")
        self._task = asyncio.create_task(self._collect(), name="polyfuse-batcher")

    async def stop(self) -> None:
        """Stop collecting; waiting requests get a cancelled future."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._carry is not None:
            self._carry.future.cancel()
        if self._queue is not None:
            while not self._queue.empty():
                self._queue.get_nowait().future.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def run_in_thread(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in the inference thread (warm-up uses it; never concurrently with a batch)."""
        assert self._executor is not None, "start() first"
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def submit(self, rows: Sequence[Row]) -> list[Result]:
        """Queue ``rows``; returns their results once their batch has run.

        Raises:
            QueueFullError: The queue is full (nothing was queued).
        """
        if self._queue is None or not self.running:
            raise RuntimeError("the batcher is not running")
        if self.queued_rows + len(rows) > self.max_queue:
            raise QueueFullError(f"{self.queued_rows} rows are waiting (limit {self.max_queue})")
        future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        item = _Pending(rows, future)
        self.queued_rows += len(rows)
        self._queue.put_nowait(item)
        try:
            return await future
        except asyncio.CancelledError:  # the caller gave up (timeout): its rows stop counting
            self._uncount(item)
            raise

    def _uncount(self, item: _Pending[Row, Result]) -> None:
        if item.counted:
            item.counted = False
            self.queued_rows -= len(item.rows)

    async def _gather(self) -> list[_Pending[Row, Result]]:
        """The next batch: the first request, every queued one, then more until max_wait."""
        assert self._queue is not None
        first, self._carry = self._carry, None
        batch = [first if first is not None else await self._queue.get()]
        size = len(batch[0].rows)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while self.join_requests and size < self.max_batch:
            item = self._queue.get_nowait() if not self._queue.empty() else None
            if item is None:
                item = await self._next(deadline - loop.time())
            if item is None:
                break
            if size + len(item.rows) > self.max_batch:
                self._carry = item  # too big to join: it leads the next batch
                break
            batch.append(item)
            size += len(item.rows)
        return batch

    async def _next(self, timeout: float) -> _Pending[Row, Result] | None:
        """The next queued request within ``timeout`` seconds, else None (never loses one)."""
        assert self._queue is not None
        if timeout <= 0:
            return None
        getter = asyncio.ensure_future(self._queue.get())
        done, _ = await asyncio.wait({getter}, timeout=timeout)
        if not done:
            getter.cancel()
            await asyncio.wait({getter})  # a get that completed meanwhile keeps its item
            if getter.cancelled():
                return None
        return getter.result()

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            for item in batch:
                self._uncount(item)
            live = [item for item in batch if not item.future.done()]  # timed out: skip
            if not live:
                continue
            rows = [row for item in live for row in item.rows]
            if self.on_batch is not None:
                self.on_batch(len(rows))
            try:
                results = await loop.run_in_executor(self._executor, self.predict_batch, rows)
            except Exception as error:  # the server answers 500 for these requests only
                log.exception("a batch of %d rows failed", len(rows))
                for item in live:
                    if not item.future.done():
                        item.future.set_exception(error)
                continue
            start = 0
            for item in live:
                if not item.future.done():
                    item.future.set_result(results[start : start + len(item.rows)])
                start += len(item.rows)
