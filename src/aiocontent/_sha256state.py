"""SHA-256 whose running state can be saved and restored: OpenSSL's ``SHA256_CTX`` via ctypes.

:mod:`hashlib` cannot export a hash's state, so an ingest reopened by a new
process would have to re-read all its data. OpenSSL's low-level
``SHA256_Init``/``SHA256_Update``/``SHA256_Final`` keep the state in a plain
112-byte structure that can be written to a file and read back.

:func:`new_digester` gives a :class:`~aiocontent.Digester` backed by it for
SHA-256 when ``libcrypto`` and the three symbols are found, else a plain
hashlib one; :func:`export_state` and :func:`digester_from_state` save and
restore. The library is loaded on first use (never at ``import aiocontent``),
without :func:`ctypes.util.find_library`, which would start a subprocess.

Speed: an update costs about a microsecond more than hashlib's, the same
rate for chunks of 64 KiB and more. Updates up to :data:`KEEP_GIL_MAX` bytes
keep the GIL (as hashlib does for tiny ones: on a busy process taking the GIL
back costs more than hashing a chunk that size); larger ones let go of it.
"""

from __future__ import annotations

import ctypes
import functools
import struct
import sys
from typing import Any, Final

from ._digest import SHA256, Algorithm, Digester

__all__ = (
    "CTX_SIZE",
    "KEEP_GIL_MAX",
    "OpenSSLSha256",
    "digester_from_state",
    "export_state",
    "keeps_gil",
    "load_openssl",
    "new_digester",
    "state_length",
)

#: ``sizeof(SHA256_CTX)``: ``h[8]``, ``Nl``, ``Nh``, ``data[16]``, ``num``, ``md_len``.
CTX_SIZE: Final = 112
_CTX: Final = struct.Struct("=8I2I64s2I")
_Ctx: Final = ctypes.c_char * CTX_SIZE
_Out: Final = ctypes.c_char * 32

#: Updates up to this many bytes keep the GIL; larger ones release it.
KEEP_GIL_MAX: Final = 64 * 1024

#: ``libcrypto`` names tried in turn (OpenSSL 3, 1.1, unversioned; macOS).
_LIBCRYPTO_NAMES: Final = (
    "libcrypto.so.3",
    "libcrypto.so.1.1",
    "libcrypto.so",
    "libcrypto.3.dylib",
    "libcrypto.dylib",
)


class _PyBuffer(ctypes.Structure):
    """CPython's ``Py_buffer``, to reach the bytes of a read-only buffer without copying."""

    _fields_ = (
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    )


class _Lib:
    """The bound OpenSSL functions: GIL-releasing (``CDLL``) and GIL-keeping (``PyDLL``)."""

    def __init__(self, name: str) -> None:
        released, kept = ctypes.CDLL(name), ctypes.PyDLL(name)
        for lib in (released, kept):
            lib.SHA256_Init.argtypes = (ctypes.c_void_p,)
            lib.SHA256_Update.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
            lib.SHA256_Final.argtypes = (ctypes.c_void_p, ctypes.c_void_p)
            for fn in (lib.SHA256_Init, lib.SHA256_Update, lib.SHA256_Final):
                fn.restype = ctypes.c_int
        self.init = released.SHA256_Init
        self.final = released.SHA256_Final
        self.update_released = released.SHA256_Update
        self.update_kept = kept.SHA256_Update
        get = ctypes.pythonapi.PyObject_GetBuffer
        get.argtypes = (ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int)
        get.restype = ctypes.c_int
        release = ctypes.pythonapi.PyBuffer_Release
        release.argtypes = (ctypes.POINTER(_PyBuffer),)
        release.restype = None
        self.get_buffer = get
        self.release_buffer = release
        self.view_buf_at = _find_view_buf()


def _find_view_buf() -> int | None:
    """Where a memoryview object keeps its buffer's address (CPython), found by probing.

    ``None`` when no offset holds it for two different views; updates then
    take the buffer through ``PyObject_GetBuffer``.
    """
    backing = bytearray(64)
    base = ctypes.addressof(ctypes.c_char.from_buffer(backing))
    views = (memoryview(backing)[3:], memoryview(backing)[17:40])
    wanted = (base + 3, base + 17)
    step = ctypes.sizeof(ctypes.c_void_p)
    for offset in range(2 * step, memoryview.__basicsize__ - step + 1, step):
        if all(
            ctypes.c_void_p.from_address(id(v) + offset).value == w
            for v, w in zip(views, wanted, strict=True)
        ):
            return offset
    return None


@functools.cache
def load_openssl() -> _Lib | None:
    """OpenSSL's SHA-256 functions, checked against :mod:`hashlib`; ``None`` when unusable."""
    if sys.implementation.name != "cpython":
        return None  # the buffer access below uses CPython's C API
    for name in _LIBCRYPTO_NAMES:
        try:
            lib = _Lib(name)
        except (OSError, AttributeError):
            continue
        probe = OpenSSLSha256(lib)
        probe.update(b"abc")
        if (
            probe.hexdigest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            and state_length(probe.state()) == 3
        ):
            return lib
    return None


class OpenSSLSha256:
    """A :mod:`hashlib`-like SHA-256 object over OpenSSL's ``SHA256_CTX``.

    Has ``update``, ``copy``, ``digest`` and ``hexdigest``, plus :meth:`state`
    (the 112-byte context) for saving.
    """

    __slots__ = ("_ctx", "_lib")

    name: Final = "sha256"
    digest_size: Final = 32
    block_size: Final = 64

    def __init__(self, lib: _Lib, state: bytes | None = None) -> None:
        self._lib = lib
        if state is None:
            self._ctx = _Ctx()
            lib.init(self._ctx)
        else:
            self._ctx = _Ctx.from_buffer_copy(state)

    def update(self, data: Any) -> None:
        """Feed ``data`` (any contiguous bytes-like object) to the hash."""
        lib = self._lib
        if type(data) is bytes:
            n = len(data)
            if n:
                (lib.update_kept if n <= KEEP_GIL_MAX else lib.update_released)(self._ctx, data, n)
            return
        view = data if type(data) is memoryview else memoryview(data)
        n = view.nbytes
        if lib.view_buf_at is not None and view.c_contiguous:
            # The view's own Py_buffer.buf: no export to take and release per call.
            if n:
                address = ctypes.c_void_p.from_address(id(view) + lib.view_buf_at).value
                (lib.update_kept if n <= KEEP_GIL_MAX else lib.update_released)(
                    self._ctx, address, n
                )
            return
        buffer = _PyBuffer()
        if lib.get_buffer(view, ctypes.byref(buffer), 0) != 0:  # PyBUF_SIMPLE: contiguous
            raise BufferError("SHA-256 needs a contiguous buffer")
        try:
            if n:
                update = lib.update_kept if n <= KEEP_GIL_MAX else lib.update_released
                update(self._ctx, buffer.buf, n)
        finally:
            lib.release_buffer(ctypes.byref(buffer))

    def copy(self) -> OpenSSLSha256:
        """An independent object with the same state."""
        clone = OpenSSLSha256.__new__(OpenSSLSha256)
        clone._lib = self._lib
        clone._ctx = _Ctx.from_buffer_copy(self._ctx)
        return clone

    def digest(self) -> bytes:
        """The digest of everything fed so far; the object can still be updated."""
        out = _Out()
        self._lib.final(out, _Ctx.from_buffer_copy(self._ctx))
        return out.raw

    def hexdigest(self) -> str:
        """:meth:`digest` in lowercase hex."""
        return self.digest().hex()

    def state(self) -> bytes:
        """The ``SHA256_CTX`` as saved by :func:`export_state`."""
        return self._ctx.raw


def _openssl(digester: Digester) -> OpenSSLSha256 | None:
    hashed = digester._hash_object()
    return hashed if isinstance(hashed, OpenSSLSha256) else None


def new_digester(algorithm: Algorithm) -> Digester:
    """A digester for ``algorithm``: a saveable one for SHA-256 where OpenSSL allows it."""
    lib = load_openssl() if algorithm == SHA256 else None
    if lib is None:
        return algorithm.digester()
    return Digester._over(SHA256, OpenSSLSha256(lib))


def keeps_gil(digester: Digester) -> bool:
    """``True`` when ``digester`` keeps the GIL itself for updates up to :data:`KEEP_GIL_MAX`."""
    return _openssl(digester) is not None


def export_state(digester: Digester) -> bytes | None:
    """The saveable state of ``digester``, or ``None`` when it is not a saveable SHA-256."""
    hashed = _openssl(digester)
    return None if hashed is None else hashed.state()


def state_length(state: bytes) -> int | None:
    """The number of bytes a saved state has hashed, or ``None`` when it is not consistent.

    Checks what the context itself can tell: its bit count, the bytes waiting
    in its block buffer and its digest length.
    """
    if len(state) != CTX_SIZE:
        return None
    fields = _CTX.unpack(state)
    low, high, num, md_len = (int(fields[i]) for i in (8, 9, 11, 12))
    bits = (high << 32) | low
    if bits % 8 or md_len != 32 or num != (bits // 8) % 64:
        return None
    return bits // 8


def digester_from_state(state: bytes) -> Digester | None:
    """A SHA-256 digester restored from :func:`export_state`'s bytes.

    ``None`` when OpenSSL is not usable here or the state is not consistent
    (see :func:`state_length`).
    """
    lib = load_openssl()
    if lib is None or state_length(state) is None:
        return None
    return Digester._over(SHA256, OpenSSLSha256(lib, state))
