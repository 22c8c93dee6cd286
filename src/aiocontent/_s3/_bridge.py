"""Run asyncio-only S3 client code from any anyio backend.

aiobotocore needs an asyncio event loop; trio has none. So the S3 client lives on
one private asyncio loop in a daemon thread (started on first use, shared by all
S3 stores of the process), and callers on either backend await its coroutines
through :func:`call`. Network I/O therefore runs in that thread while hashing
runs in the caller's, which overlaps the two. The cost is one cross-thread
wake-up per call (tens of microseconds), small next to an S3 round trip.

This is the only module of :mod:`aiocontent._s3` that touches threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

import anyio

T = TypeVar("T")

_lock: Final = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _run_loop(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    loop.run_forever()


def loop() -> asyncio.AbstractEventLoop:
    """The private asyncio loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            new = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(
                target=_run_loop, args=(new, ready), name="aiocontent-s3", daemon=True
            )
            thread.start()
            ready.wait()
            _loop = new
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Start ``coro`` on the private loop without waiting for it."""
    return asyncio.run_coroutine_threadsafe(coro, loop())


def _threadsafe_caller() -> Callable[[Callable[[], object]], object]:
    """A function that runs a callback soon in the current event loop, from any thread."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon
    return running.call_soon_threadsafe


async def wait(fut: concurrent.futures.Future[T]) -> T:
    """Await a future of the private loop from the current anyio task.

    Cancelling the caller cancels the coroutine behind ``fut``.
    """
    if not fut.done():
        event = anyio.Event()
        schedule = _threadsafe_caller()

        def wake(_: object) -> None:
            # The caller's loop may be gone already (it was cancelled and finished).
            with contextlib.suppress(RuntimeError):
                schedule(event.set)

        fut.add_done_callback(wake)
        try:
            await event.wait()
        except BaseException:
            fut.cancel()
            raise
    else:
        await anyio.lowlevel.checkpoint()
    return fut.result()


async def call(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the private loop and return its result.

    :raises: whatever ``coro`` raises.
    """
    return await wait(submit(coro))
