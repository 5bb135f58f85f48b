"""Exceptions raised by nearkit.

Every failure of the C library becomes an instance of a subclass of :class:`NearkitError` that also
derives from the matching built-in exception, so ordinary ``except ValueError`` / ``except OSError``
code keeps working:

==================  =========================  ===============================
C status            nearkit class              also a
==================  =========================  ===============================
INVALID_ARGUMENT    InvalidArgumentError       ValueError
OUT_OF_MEMORY       OutOfMemoryError           MemoryError
IO                  NearkitIOError             OSError
CORRUPT             CorruptIndexError          ValueError
UNSUPPORTED         UnsupportedError           ValueError
STATE               StateError                 RuntimeError
NOT_FOUND           NotFoundError              LookupError, ValueError
INTERNAL            InternalError              RuntimeError
(index closed)      ClosedIndexError           ValueError
==================  =========================  ===============================

``str(error)`` is the C library's message (``nearkit_last_error_message()``), ``error.status`` the
status code and ``error.status_name`` its name (e.g. ``"CORRUPT"``). Checks that only the binding can
make (array dtype and shape, buffer sizes) raise :class:`InvalidArgumentError` too.
"""

__all__ = [
    "NearkitError",
    "InvalidArgumentError",
    "OutOfMemoryError",
    "NearkitIOError",
    "CorruptIndexError",
    "UnsupportedError",
    "StateError",
    "NotFoundError",
    "InternalError",
    "ClosedIndexError",
]


class NearkitError(Exception):
    """Base class of every error nearkit raises; also raised as is for an unknown status."""

    #: The C library's status code of this class (``nearkit_status``); None on the base class.
    status: "int | None" = None
    status_name = "UNKNOWN"


class InvalidArgumentError(NearkitError, ValueError):
    """An invalid argument: wrong dtype or shape, wrong dimension, k <= 0, NaN, bad value."""

    status = 1
    status_name = "INVALID_ARGUMENT"


class OutOfMemoryError(NearkitError, MemoryError):
    """The C library could not allocate memory."""

    status = 2
    status_name = "OUT_OF_MEMORY"


class NearkitIOError(NearkitError, OSError):
    """A file could not be opened, read or written."""

    status = 3
    status_name = "IO"


class CorruptIndexError(NearkitError, ValueError):
    """A file or buffer is not a valid nearkit index (truncated, corrupted or foreign)."""

    status = 4
    status_name = "CORRUPT"


class UnsupportedError(NearkitError, ValueError):
    """Valid but not supported, e.g. a kind/metric pair, or a file from a newer format version."""

    status = 5
    status_name = "UNSUPPORTED"


class StateError(NearkitError, RuntimeError):
    """The call is not valid in the index's state (e.g. searching an index not yet trained)."""

    status = 6
    status_name = "STATE"


class NotFoundError(NearkitError, LookupError, ValueError):
    """Unknown index kind, metric or parameter name."""

    status = 7
    status_name = "NOT_FOUND"


class InternalError(NearkitError, RuntimeError):
    """A bug in nearkit; please report it."""

    status = 8
    status_name = "INTERNAL"


class ClosedIndexError(NearkitError, ValueError):
    """The index was closed (``Index.close()`` or the end of a ``with`` block)."""

    status = None
    status_name = "CLOSED"


#: The classes for statuses 1, 2, ... in order, as registered with the low-level module.
BY_STATUS = (
    InvalidArgumentError,
    OutOfMemoryError,
    NearkitIOError,
    CorruptIndexError,
    UnsupportedError,
    StateError,
    NotFoundError,
    InternalError,
)
