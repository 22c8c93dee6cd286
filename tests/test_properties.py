"""Property tests of the writer contract, run on every store in ``tests/stores.py``.

Each example gets a fresh store from the factory (a factory of a file store
gives a new directory per call). The directory the factories work under comes
from :mod:`tempfile`, not ``tmp_path``, which does not mix with ``@given``.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiocontent import Descriptor, Digest, with_ref
from aiocontent.testing import StoreFactory

from .stores import STORE_FACTORIES, store_params

PROPERTY_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    # The fixtures (anyio_backend, factory) hold no state that examples could share:
    # every example opens a new, empty store.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

blobs = st.binary(max_size=4096)


@pytest.fixture(params=store_params())
def factory(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    with tempfile.TemporaryDirectory(prefix="aiocontent-props-") as root:
        yield STORE_FACTORIES[request.param](Path(root))


@PROPERTY_SETTINGS
@given(data=blobs, cuts=st.lists(st.integers(min_value=0, max_value=4096), max_size=8))
async def test_any_split_into_writes_gives_digest_of_whole(
    factory: StoreFactory, data: bytes, cuts: list[int]
) -> None:
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    async with factory() as cs:
        async with aclosing(await cs.writer(with_ref("split"))) as cw:
            for start, end in itertools.pairwise(bounds):
                assert await cw.write(data[start:end]) == end - start
            assert cw.digest() == Digest.from_bytes(data)
            await cw.commit(len(data), Digest.from_bytes(data))
        async with aclosing(await cs.reader_at(Descriptor(digest=Digest.from_bytes(data)))) as ra:
            assert await ra.read_at(len(data) + 1, 0) == data


@PROPERTY_SETTINGS
@given(
    data=blobs.filter(bool),
    reads=st.lists(
        st.tuples(st.integers(min_value=0, max_value=5000), st.integers(0, 5000)),
        min_size=1,
        max_size=10,
    ),
)
async def test_read_at_equals_the_slice(
    factory: StoreFactory, data: bytes, reads: list[tuple[int, int]]
) -> None:
    dgst = Digest.from_bytes(data)
    async with factory() as cs:
        async with aclosing(await cs.writer(with_ref("read"))) as cw:
            await cw.write(data)
            await cw.commit(len(data), dgst)
        async with aclosing(await cs.reader_at(Descriptor(digest=dgst))) as ra:
            assert ra.size == len(data)
            for n, offset in reads:
                assert await ra.read_at(n, offset) == data[offset : offset + n]


@PROPERTY_SETTINGS
@given(data=blobs, cut=st.integers(min_value=0, max_value=4096))
async def test_close_and_resume_at_any_offset(factory: StoreFactory, data: bytes, cut: int) -> None:
    k = cut % (len(data) + 1)
    dgst = Digest.from_bytes(data)
    async with factory() as cs:
        async with aclosing(await cs.writer(with_ref("resume"))) as cw:
            await cw.write(data[:k])
        async with aclosing(await cs.writer(with_ref("resume"))) as cw:
            assert (await cw.status()).offset == k
            assert cw.digest() == Digest.from_bytes(data[:k])
            await cw.write(data[k:])
            await cw.commit(len(data), dgst)
        assert (await cs.info(dgst)).size == len(data)
        async with aclosing(await cs.reader_at(Descriptor(digest=dgst))) as ra:
            assert await ra.read_at(len(data), 0) == data


@PROPERTY_SETTINGS
@given(
    data=blobs,
    junk=st.binary(max_size=512),
    cut=st.integers(min_value=0, max_value=4096),
)
async def test_truncate_then_rewrite_gives_the_blob(
    factory: StoreFactory, data: bytes, junk: bytes, cut: int
) -> None:
    k = cut % (len(data) + 1)
    dgst = Digest.from_bytes(data)
    async with factory() as cs:
        async with aclosing(await cs.writer(with_ref("truncate"))) as cw:
            await cw.write(data[:k] + junk)
            await cw.truncate(k)
            assert (await cw.status()).offset == k
            assert cw.digest() == Digest.from_bytes(data[:k])
            await cw.write(data[k:])
            await cw.commit(len(data), dgst)
        async with aclosing(await cs.reader_at(Descriptor(digest=dgst))) as ra:
            assert await ra.read_at(len(data), 0) == data
