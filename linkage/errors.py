"""Exceptions raised by linkage.

Every error is a :class:`LinkageError`; each subclass also inherits the builtin that
fits, so ``except ValueError`` keeps working for callers who do not know our names.
Messages name the file, the row or field, and the rule; they never carry a value read
from a record, nor a key.
"""

from __future__ import annotations


class LinkageError(Exception):
    """Base class of every error this library raises on purpose."""


class InputDataError(LinkageError, ValueError):
    """An input file or table is malformed: wrong columns, bad rows, empty."""


class EncodingError(LinkageError, ValueError):
    """An encoding schema or an encoding file is invalid or does not match."""


class KeyFileError(LinkageError, ValueError):
    """A project key file is missing, unreadable, of the wrong size or too open."""


class MatchingError(LinkageError, ValueError):
    """The matching inputs are inconsistent (e.g. filters of different lengths)."""


class ProtocolError(LinkageError, ValueError):
    """A protocol or agreement file is invalid, or forbids the requested action."""


class AuditLogError(LinkageError, ValueError):
    """An audit log failed verification or could not be written."""


class NotFittedError(LinkageError, ValueError, AttributeError):
    """A model was used before ``fit`` was called."""
