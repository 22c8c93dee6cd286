"""S3Store: the content store on S3-compatible object storage (the ``s3`` extra)."""

from __future__ import annotations

from ._reader import S3ReaderAt as S3ReaderAt
from ._store import S3Store as S3Store
from ._writer import S3Writer as S3Writer

__all__ = ("S3ReaderAt", "S3Store", "S3Writer")
