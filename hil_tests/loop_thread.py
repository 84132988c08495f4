"""An asyncio event loop running in a background thread, so that synchronous tests can drive servers.

The plant and the link proxy are asyncio servers. Tests and the fleet are synchronous (they block on
subprocess output and HTTP calls), so the servers live on their own loop in a daemon thread and the
synchronous side calls into them with `LoopThread.run`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """One event loop in one daemon thread; `run` executes a coroutine there and waits for it."""

    def __init__(self, name: str = "hil-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._started = threading.Event()
        self._thread.start()
        self._started.wait()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()
        # Cancel whatever is still pending so that sockets are closed before the loop goes.
        pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30) -> T:
        """Run `coro` on the loop thread and return its result (re-raising its exception)."""
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def call(self, fn: Any, *args: Any) -> None:
        """Schedule a plain callable on the loop thread (fire and forget)."""
        self.loop.call_soon_threadsafe(fn, *args)

    @property
    def alive(self) -> bool:
        """True while the loop thread runs."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 10) -> None:
        """Stop the loop, cancel its tasks and join the thread."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
