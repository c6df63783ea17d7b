"""NT status codes and Win32 errors by name: the one place every SMB and RPC answer is named.

impacket's table ([MS-ERREF] 2.3, about 1,800 codes) is the reference; smbprotocol's `NtStatus` adds
the few it lacks (STATUS_SERVER_UNAVAILABLE). Both libraries spell the names the same way.
"""

from __future__ import annotations

from impacket import system_errors
from impacket.nt_errors import ERROR_MESSAGES
from smbprotocol.header import NtStatus

# smbprotocol's NtStatus is a class of constants, not an enum.
_NAMES: dict[int, str] = {
    **{value: name for name, value in vars(NtStatus).items() if name.startswith("STATUS_")},
    **{code: str(text[0]) for code, text in ERROR_MESSAGES.items()},
}


def status_name(code: int) -> str:
    """An NT status code by name (STATUS_ACCESS_DENIED for 0xc0000022), or in hex when unknown."""
    code = int(code)
    return _NAMES.get(code, f"0x{code:08x}")


def error_name(code: int) -> str:
    """A Win32 error (WERR, as srvsvc answers) or an NT status (as LSA answers), by name."""
    code = int(code)
    if code < 0x10000:
        known = system_errors.ERROR_MESSAGES.get(code)
        return str(known[0]) if known else f"WERR 0x{code:08x}"
    return status_name(code)
