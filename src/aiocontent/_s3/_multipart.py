"""S3's multipart-upload calls, the part of :class:`~._client.S3Client` that :mod:`._parts` uses."""

from __future__ import annotations

import contextlib
import dataclasses
import io
from collections.abc import Coroutine, Sequence
from typing import Any

from ._connection import Connection, Missing, strip_etag


@dataclasses.dataclass(frozen=True)
class Part:
    """One uploaded part of a multipart upload."""

    number: int
    size: int
    etag: str


class PartBody(io.RawIOBase):
    """A part's bytes as a read-only, seekable file, so the S3 client takes them without a copy.

    botocore streams a file body in pieces (hashing it for the signature
    first, seeking back for a retry); a ``bytearray`` it would hand to the
    HTTP client whole. The bytes cannot change while a body is open: it holds
    a view of them, so the ``bytearray`` cannot be resized.
    """

    def __init__(self, data: bytes | bytearray) -> None:
        super().__init__()
        self._view = memoryview(data).cast("B")
        self._pos = 0

    def __len__(self) -> int:
        return len(self._view)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else self._pos + size
        out = bytes(self._view[self._pos : end])
        self._pos += len(out)
        return out

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        n = max(min(len(out), len(self._view) - self._pos), 0)
        out[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n

    def close(self) -> None:
        super().close()
        self._view.release()


class MultipartCalls(Connection):
    """Start, fill, list, complete and abort multipart uploads."""

    async def create_upload(self, key: str, metadata: dict[str, str] | None = None) -> str:
        """Start a multipart upload to ``key``; returns its upload id."""
        kwargs: dict[str, Any] = {"Key": key}
        if metadata:
            kwargs["Metadata"] = metadata

        async def go() -> str:
            r = await self._do("CreateMultipartUpload", key, "create_multipart_upload", **kwargs)
            return str(r["UploadId"])

        return await self._run(go())

    def upload_part(
        self, key: str, upload_id: str, number: int, body: bytes | bytearray
    ) -> Coroutine[Any, Any, str]:
        """Bridge-side coroutine uploading one part; returns its ETag.

        Meant for :func:`._bridge.submit`, so several parts can be in flight.

        :raises Missing: the upload is gone (aborted).
        """

        async def go() -> str:
            r = await self._do(
                "UploadPart",
                key,
                "upload_part",
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=PartBody(body),
            )
            return strip_etag(r.get("ETag", ""))

        return go()

    def upload_part_copy(
        self, key: str, upload_id: str, number: int, src: str, start: int, end: int
    ) -> Coroutine[Any, Any, str]:
        """Bridge-side coroutine copying ``src[start:end]`` as one part; returns its ETag."""

        async def go() -> str:
            r = await self._do(
                "UploadPartCopy",
                key,
                "upload_part_copy",
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                CopySource={"Bucket": self.bucket, "Key": src},
                CopySourceRange=f"bytes={start}-{end - 1}",
            )
            return strip_etag(r.get("CopyPartResult", {}).get("ETag", ""))

        return go()

    async def list_parts(self, key: str, upload_id: str) -> list[Part] | None:
        """The parts of an upload in part-number order; ``None`` when it is gone."""

        async def go() -> list[Part] | None:
            parts: list[Part] = []
            marker = 0
            while True:
                try:
                    r = await self._do(
                        "ListParts",
                        key,
                        "list_parts",
                        Key=key,
                        UploadId=upload_id,
                        PartNumberMarker=marker,
                    )
                except Missing:
                    return None
                for p in r.get("Parts", []):
                    parts.append(Part(int(p["PartNumber"]), int(p["Size"]), strip_etag(p["ETag"])))
                if not r.get("IsTruncated"):
                    return sorted(parts, key=lambda p: p.number)
                marker = int(r["NextPartNumberMarker"])

        return await self._run(go())

    async def complete_upload(self, key: str, upload_id: str, parts: Sequence[Part]) -> str:
        """Complete an upload with ``parts``; returns the object's ETag.

        :raises Missing: the upload is gone.
        """
        spec = {"Parts": [{"PartNumber": p.number, "ETag": f'"{p.etag}"'} for p in parts]}

        async def go() -> str:
            r = await self._do(
                "CompleteMultipartUpload",
                key,
                "complete_multipart_upload",
                Key=key,
                UploadId=upload_id,
                MultipartUpload=spec,
            )
            return strip_etag(r.get("ETag", ""))

        return await self._run(go())

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort an upload, dropping its parts; a gone upload is fine."""

        async def go() -> None:
            with contextlib.suppress(Missing):
                await self._do(
                    "AbortMultipartUpload",
                    key,
                    "abort_multipart_upload",
                    Key=key,
                    UploadId=upload_id,
                )

        await self._run(go())

    async def list_uploads(self, prefix: str) -> list[tuple[str, str]]:
        """``(key, upload_id)`` of every unfinished upload under ``prefix``."""

        async def go() -> list[tuple[str, str]]:
            out: list[tuple[str, str]] = []
            kwargs: dict[str, Any] = {"Prefix": prefix}
            while True:
                r = await self._do(
                    "ListMultipartUploads", prefix, "list_multipart_uploads", **kwargs
                )
                out.extend((u["Key"], u["UploadId"]) for u in r.get("Uploads", []))
                if not r.get("IsTruncated"):
                    return out
                kwargs["KeyMarker"] = r.get("NextKeyMarker", "")
                kwargs["UploadIdMarker"] = r.get("NextUploadIdMarker", "")

        return await self._run(go())
