"""The project's exceptions: what went wrong, said in one line, and which exit code it maps to."""

from __future__ import annotations

from enum import StrEnum


class ShareauditError(Exception):
    """Base class: the message is shown to the user as one line."""


class InputError(ShareauditError):
    """Bad input from the user (targets, options, config, secrets): exit code 2."""


class FailureKind(StrEnum):
    """Why talking to a host failed, in the words an admin would use."""

    UNRESOLVED = "unresolved"  # the name does not resolve
    REFUSED = "refused"  # nothing listens on the port
    TIMEOUT = "timeout"  # no answer in time (filtered, or the server stopped answering)
    NOT_SMB = "not_smb"  # something answered, but not SMB
    UNREACHABLE = "unreachable"  # no route, network down
    LOGIN = "login"  # a logon was refused
    DENIED = "denied"  # an operation was refused (access denied)
    PROTOCOL = "protocol"  # the server answered something we could not use
    INTERRUPTED = "interrupted"  # Ctrl-C while the host was being scanned: what was learned is kept


class CollectError(ShareauditError):
    """Talking to a server failed; raised by the adapters in shareaudit.collect.smb with a kind and a one-line reason."""

    def __init__(self, kind: FailureKind, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


def unexpected(exc: BaseException) -> CollectError:
    """An exception nobody expected while talking to one host (a library choking on an answer, or a bug).

    The host is kept with what was learned before it, as a protocol failure in one line naming only the
    exception's type (its text may quote server strings); the traceback goes to the --debug log only.
    """
    return CollectError(
        FailureKind.PROTOCOL, f"unexpected failure ({type(exc).__name__}); run with --debug to see where"
    )
