"""Collections running while blobs are written, committed, labelled and reused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from aiocontent import (
    Descriptor,
    Digest,
    Info,
    LocalStore,
    NotFoundError,
    WalkFunc,
    open_writer,
    with_descriptor,
    with_ref,
)
from aiocontent.gc import collect_garbage

from ._population import age, digest_of, present, put

GRACE = 60.0
WRITERS = 6
ROUNDS = 5


class HookedStore(LocalStore):
    """A LocalStore that runs ``hook`` once, right after its ``after``-th walk (1: the mark,
    2: the second mark, just before the sweep)."""

    def __init__(self, root: Path, hook: Callable[[], Awaitable[Any]], after: int = 1) -> None:
        super().__init__(root)
        self.hook: Callable[[], Awaitable[Any]] | None = hook
        self.walks_left = after

    async def walk(self, fn: WalkFunc, *filters: str) -> None:
        await super().walk(fn, *filters)
        self.walks_left -= 1
        hook = self.hook
        if hook is not None and self.walks_left == 0:
            self.hook = None
            await hook()


async def test_blob_used_between_mark_and_sweep_is_spared(tmp_path: Path) -> None:
    data = b"an old layer a pull finds present"
    digest = digest_of(data)

    async def reuse() -> None:
        await store.update(Info(digest=Digest(digest), labels={"reused": "1"}), "labels.reused")
        await put(store, b"new manifest", {"containerd.io/gc.ref.content.l.0": digest})

    async with HookedStore(tmp_path / "s", reuse) as store:
        await put(store, data)
        age(store.root, digest, 7200)
        report = await collect_garbage(store, grace=GRACE)
        assert report.spared == 1 and report.deleted == ()
        assert await present(store, digest)


async def test_parent_committed_between_mark_and_sweep_keeps_its_child(tmp_path: Path) -> None:
    data = b"an old blob a push reuses without touching it"
    digest = digest_of(data)

    async def parent() -> None:
        await put(store, b"new parent", {"containerd.io/gc.ref.content.l.0": digest})

    async with HookedStore(tmp_path / "s", parent) as store:
        await put(store, data)
        age(store.root, digest, 7200)
        report = await collect_garbage(store, grace=GRACE)
        assert report.deleted == () and await present(store, digest)


async def test_writes_during_collections_lose_nothing(tmp_path: Path) -> None:
    async with LocalStore(tmp_path / "s") as store:
        garbage = [await put(store, f"old garbage {i}".encode()) for i in range(40)]
        shared = await put(store, b"an old layer every writer reuses")
        for digest in [*garbage, shared]:
            age(store.root, digest, 7200)
        parents: list[tuple[str, list[str]]] = []
        done = anyio.Event()
        runs = 0

        async def writer(n: int) -> None:
            for r in range(ROUNDS):
                data = f"writer {n} round {r} ".encode() * 2000
                desc = Descriptor(digest=digest_of(data), size=len(data))
                async with await open_writer(
                    store, with_ref(f"w{n}-{r}"), with_descriptor(desc)
                ) as w:
                    for i in range(0, len(data), 4096):
                        await w.write(data[i : i + 4096])
                        await anyio.lowlevel.checkpoint()
                    await w.commit(desc.size, str(desc.digest))
                try:  # a pull reusing a present blob labels it, as the puller does
                    await store.update(
                        Info(digest=Digest(shared), labels={"used": f"{n}"}), "labels.used"
                    )
                except NotFoundError:  # collected before we got there: fetch it again
                    await put(store, b"an old layer every writer reuses")
                labels = {
                    "containerd.io/gc.ref.content.l.0": str(desc.digest),
                    "containerd.io/gc.ref.content.l.1": shared,
                }
                parent = await put(store, f"parent {n} {r}".encode(), labels)
                parents.append((parent, [str(desc.digest), shared]))

        async def collector() -> None:
            nonlocal runs
            while not done.is_set():
                await collect_garbage(store, grace=GRACE)
                runs += 1
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as tg:
            tg.start_soon(collector)
            async with anyio.create_task_group() as writers:
                for n in range(WRITERS):
                    writers.start_soon(writer, n)
            done.set()
        assert runs > 0
        assert len(parents) == WRITERS * ROUNDS
        for parent, children in parents:
            assert await present(store, parent)
            for child in children:
                assert await present(store, child), f"{parent} lost its child {child}"
        for digest in garbage:
            assert not await present(store, digest)
        assert await store.list_statuses() == []
