"""The connection under :class:`~._client.S3Client`: one aiobotocore client, its errors mapped.

Requests run on the private asyncio loop (:mod:`._bridge`). S3's answers are
mapped to what the store needs: a missing key is :class:`Missing`, a failed
condition is :class:`PreconditionFailed`, anything else unexpected is an
:class:`OSError` naming the operation and the key. aiobotocore is imported only
when a store is made (:func:`require_extra`), so ``import aiocontent`` works
without the ``s3`` extra and never loads botocore.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Coroutine
from typing import Any, Final, Literal, TypeVar

from .._messages import closed, s3_failed
from . import _bridge

T = TypeVar("T")

#: Codes S3 and Ceph use for a key or an upload that does not exist.
_MISSING_CODES: Final = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_UPLOAD_CODES: Final = frozenset({"NoSuchUpload"})
_PRECONDITION_CODES: Final = frozenset({"412", "PreconditionFailed"})
_RANGE_CODES: Final = frozenset({"416", "InvalidRange"})

_session: Any = None


#: What to install when the ``s3`` extra is missing.
EXTRA_HINT: Final = "pip install 'aiocontent[s3]'"


def require_extra() -> None:
    """Import aiobotocore and botocore, or say which extra installs them.

    :raises ImportError: the ``s3`` extra is not installed; the message names
        the missing module and the install command, the original error is the cause.
    """
    try:
        for name in ("botocore.config", "aiobotocore.session"):
            importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(
            f"S3Store needs the s3 extra ({exc.name or 'aiobotocore'} is missing): {EXTRA_HINT}",
            name=exc.name,
        ) from exc


class Missing(Exception):
    """The key (or the multipart upload) does not exist."""


class PreconditionFailed(Exception):
    """A conditional request (``If-None-Match`` / ``If-Match``) was refused (HTTP 412)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """How to reach and sign requests for an S3-compatible service."""

    endpoint_url: str | None = None
    region_name: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    addressing_style: Literal["path", "virtual", "auto"] = "path"
    checksums: Literal["when_required", "when_supported"] = "when_required"
    max_pool_connections: int = 32
    unquoted_if_match: bool = True
    #: The aiobotocore session that creates the client; ``None``: one shared by the process.
    session: Any = None


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def strip_etag(etag: str) -> str:
    """``etag`` without the quotes S3 puts around it."""
    return etag.strip('"')


class Connection:
    """One aiobotocore client for one bucket, created on first use on the private loop."""

    def __init__(self, config: ClientConfig, bucket: str) -> None:
        self.config = config
        self.bucket = bucket
        self._client: Any = None
        self._closed = False

    # -------------------------------------------------------------- plumbing

    async def _make(self) -> Any:
        global _session
        if self._client is None:
            if self._closed:
                raise closed("S3 client")
            require_extra()
            from aiobotocore.session import get_session  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]

            if _session is None and self.config.session is None:
                _session = get_session()
            cfg = self.config
            session = cfg.session or _session
            self._client = await session.create_client(
                "s3",
                endpoint_url=cfg.endpoint_url,
                region_name=cfg.region_name,
                aws_access_key_id=cfg.access_key_id,
                aws_secret_access_key=cfg.secret_access_key,
                aws_session_token=cfg.session_token,
                config=Config(
                    s3={"addressing_style": cfg.addressing_style},
                    request_checksum_calculation=cfg.checksums,
                    response_checksum_validation=cfg.checksums,
                    max_pool_connections=cfg.max_pool_connections,
                    retries={"mode": "standard", "max_attempts": 4},
                ),
            ).__aenter__()
        return self._client

    async def _do(self, op: str, key: str, coro_fn: Any, /, **kwargs: Any) -> Any:
        """Bridge side: run one client method, mapping errors."""
        from botocore.exceptions import (  # type: ignore[import-untyped]
            BotoCoreError,
            ClientError,
        )

        client = await self._make()
        try:
            return await getattr(client, coro_fn)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = _code(exc)
            if code in _MISSING_CODES or code in _NO_UPLOAD_CODES:
                raise Missing(f"{op} {key}: {code}") from exc
            if code in _PRECONDITION_CODES:
                raise PreconditionFailed(f"{op} {key}: {code}") from exc
            if code in _RANGE_CODES:
                raise EOFError(f"{op} {key}: {code}") from exc
            raise s3_failed(op, self.url(key), exc) from exc
        except (TimeoutError, BotoCoreError, OSError) as exc:
            raise s3_failed(op, self.url(key), exc) from exc
        except Exception as exc:
            # aiohttp's payload errors and the like: an I/O failure, not a bug of ours.
            if type(exc).__module__.startswith(("aiohttp", "botocore", "aiobotocore")):
                raise s3_failed(op, self.url(key), exc) from exc
            raise

    @staticmethod
    async def _run(coro: Coroutine[Any, Any, T]) -> T:
        return await _bridge.call(coro)

    def url(self, key: str) -> str:
        """``s3://<bucket>/<key>``, for messages."""
        return f"s3://{self.bucket}/{key}"

    def if_match(self, etag: str) -> str:
        """The ``If-Match`` value for ``etag`` (Ceph 16 matches only the unquoted form)."""
        return strip_etag(etag) if self.config.unquoted_if_match else f'"{strip_etag(etag)}"'

    async def aclose(self) -> None:
        """Close the connection pool. Later calls raise ``FailedPreconditionError``."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await self._run(client.__aexit__(None, None, None))
