"""aiocontent: containerd's content-addressed blob store for anyio (asyncio and trio)."""

from __future__ import annotations

from ._digest import CANONICAL as CANONICAL
from ._digest import SHA256 as SHA256
from ._digest import SHA384 as SHA384
from ._digest import SHA512 as SHA512
from ._digest import Algorithm as Algorithm
from ._digest import Digest as Digest
from ._digest import Digester as Digester
from ._errors import AlreadyExistsError as AlreadyExistsError
from ._errors import ContentError as ContentError
from ._errors import FailedPreconditionError as FailedPreconditionError
from ._errors import InvalidArgumentError as InvalidArgumentError
from ._errors import NotFoundError as NotFoundError
from ._errors import ShortReadError as ShortReadError
from ._errors import UnavailableError as UnavailableError
from ._exports import publish as _publish
from ._helpers import BlobReader as BlobReader
from ._helpers import Source as Source
from ._helpers import copy as copy
from ._helpers import copy_reader as copy_reader
from ._helpers import copy_reader_at as copy_reader_at
from ._helpers import exists as exists
from ._helpers import new_reader as new_reader
from ._helpers import open_writer as open_writer
from ._helpers import read_blob as read_blob
from ._helpers import write_blob as write_blob
from ._interfaces import InfoProvider as InfoProvider
from ._interfaces import Ingester as Ingester
from ._interfaces import IngestManager as IngestManager
from ._interfaces import Manager as Manager
from ._interfaces import Provider as Provider
from ._interfaces import ReaderAt as ReaderAt
from ._interfaces import Store as Store
from ._interfaces import SupportsLockWait as SupportsLockWait
from ._interfaces import SupportsPut as SupportsPut
from ._interfaces import SupportsSiblings as SupportsSiblings
from ._interfaces import SupportsSingleFlight as SupportsSingleFlight
from ._interfaces import Writer as Writer
from ._local import LocalStore as LocalStore
from ._local import Problem as Problem
from ._memory import MemoryStore as MemoryStore
from ._s3 import S3Store as S3Store
from ._singleflight import Flights as Flights
from ._types import Descriptor as Descriptor
from ._types import Info as Info
from ._types import Opt as Opt
from ._types import Status as Status
from ._types import WalkFunc as WalkFunc
from ._types import WriterOpt as WriterOpt
from ._types import WriterOpts as WriterOpts
from ._types import with_descriptor as with_descriptor
from ._types import with_labels as with_labels
from ._types import with_ref as with_ref

__all__ = (
    "CANONICAL",
    "SHA256",
    "SHA384",
    "SHA512",
    "Algorithm",
    "AlreadyExistsError",
    "BlobReader",
    "ContentError",
    "Descriptor",
    "Digest",
    "Digester",
    "FailedPreconditionError",
    "Flights",
    "Info",
    "InfoProvider",
    "IngestManager",
    "Ingester",
    "InvalidArgumentError",
    "LocalStore",
    "Manager",
    "MemoryStore",
    "NotFoundError",
    "Opt",
    "Problem",
    "Provider",
    "ReaderAt",
    "S3Store",
    "ShortReadError",
    "Source",
    "Status",
    "Store",
    "SupportsLockWait",
    "SupportsPut",
    "SupportsSiblings",
    "SupportsSingleFlight",
    "UnavailableError",
    "WalkFunc",
    "Writer",
    "WriterOpt",
    "WriterOpts",
    "copy",
    "copy_reader",
    "copy_reader_at",
    "exists",
    "new_reader",
    "open_writer",
    "read_blob",
    "with_descriptor",
    "with_labels",
    "with_ref",
    "write_blob",
)

# Show public objects as ``aiocontent.X`` in reprs, tracebacks and docs.
_publish(globals(), __name__)
