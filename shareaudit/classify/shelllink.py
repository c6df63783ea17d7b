"""The strings a Windows shortcut (.lnk) points at, from at most its first 4 KiB: a bounds-checked parser.

[MS-SHLLINK]: a 76-byte ShellLinkHeader, then (by LinkFlags) a LinkTargetIDList, a LinkInfo whose
CommonNetworkRelativeLink holds the `\\\\server\\share` of a network target, the StringData (name,
relative path, working directory, arguments, icon location) and ExtraData blocks, of which the
EnvironmentVariableDataBlock and IconEnvironmentDataBlock hold more paths. A shortcut whose icon sits
on a UNC path makes Explorer authenticate to that host as whoever merely opens the folder.

Every offset and count is checked against the bytes at hand: a truncated or hostile file yields the
strings found before the problem, never an exception.
"""

from __future__ import annotations

import struct

HEADER_SIZE = 0x4C
LINK_CLSID = bytes.fromhex("0114020000000000c000000000000046")

# LinkFlags (2.1.1)
_HAS_ID_LIST = 0x1
_HAS_LINK_INFO = 0x2
_HAS_NAME = 0x4
_HAS_RELATIVE_PATH = 0x8
_HAS_WORKING_DIR = 0x10
_HAS_ARGUMENTS = 0x20
_HAS_ICON_LOCATION = 0x40
_IS_UNICODE = 0x80
_STRING_FLAGS = (_HAS_NAME, _HAS_RELATIVE_PATH, _HAS_WORKING_DIR, _HAS_ARGUMENTS, _HAS_ICON_LOCATION)

# LinkInfoFlags (2.3)
_VOLUME_ID_AND_LOCAL_BASE_PATH = 0x1
_COMMON_NETWORK_RELATIVE_LINK = 0x2

# ExtraData blocks (2.5) that carry a target path: TargetAnsi (260 bytes) then TargetUnicode (520 bytes).
_ENVIRONMENT_BLOCK = 0xA0000001
_ICON_ENVIRONMENT_BLOCK = 0xA0000007
_PATH_BLOCK_SIZE = 0x314
_MAX_BLOCKS = 32


def is_shell_link(data: bytes) -> bool:
    """The bytes start with a ShellLinkHeader (size 0x4C and the shell link CLSID)."""
    return len(data) >= HEADER_SIZE and data[:4] == b"\x4c\x00\x00\x00" and data[4:20] == LINK_CLSID


def link_strings(data: bytes) -> tuple[str, ...]:
    """Every path-like string of the shortcut that fits in `data`, in file order (empty if it is not one)."""
    if not is_shell_link(data):
        return ()
    found: list[str] = []
    (flags,) = struct.unpack_from("<I", data, 20)
    pos = HEADER_SIZE
    if flags & _HAS_ID_LIST:
        if pos + 2 > len(data):
            return ()
        (size,) = struct.unpack_from("<H", data, pos)
        pos += 2 + size
    if flags & _HAS_LINK_INFO:
        if pos + 4 > len(data):
            return tuple(found)
        (size,) = struct.unpack_from("<I", data, pos)
        if size < 0x1C:
            return tuple(found)
        found.extend(_link_info(data[pos : pos + size]))
        pos += size
    unicode = bool(flags & _IS_UNICODE)
    for flag in _STRING_FLAGS:
        if not flags & flag:
            continue
        if pos + 2 > len(data):
            return tuple(_clean(found))
        (count,) = struct.unpack_from("<H", data, pos)
        pos += 2
        width = 2 if unicode else 1
        raw = data[pos : pos + count * width]
        pos += count * width
        found.append(_decode(raw, unicode))
        if pos > len(data):
            return tuple(_clean(found))
    found.extend(_extra_data(data, pos))
    return tuple(_clean(found))


def _link_info(info: bytes) -> list[str]:
    if len(info) < 0x1C:
        return []
    _, header_size, info_flags, _, local_offset, network_offset, _ = struct.unpack_from("<7I", info, 0)
    found: list[str] = []
    if info_flags & _VOLUME_ID_AND_LOCAL_BASE_PATH:
        found.append(_ansi_z(info, local_offset))
        if header_size >= 0x24 and len(info) >= 0x24:
            (unicode_offset,) = struct.unpack_from("<I", info, 0x1C)
            found.append(_unicode_z(info, unicode_offset))
    if info_flags & _COMMON_NETWORK_RELATIVE_LINK and 0 < network_offset < len(info):
        found.extend(_network_link(info[network_offset:]))
    return found


def _network_link(link: bytes) -> list[str]:
    """CommonNetworkRelativeLink (2.3.2): NetName is the \\\\server\\share of the target."""
    if len(link) < 0x14:
        return []
    size, _, net_offset, _, _ = struct.unpack_from("<5I", link, 0)
    link = link[: max(size, 0x14)]
    found = [_ansi_z(link, net_offset)]
    if net_offset > 0x14 and len(link) >= 0x1C:
        (unicode_offset,) = struct.unpack_from("<I", link, 0x14)
        found.append(_unicode_z(link, unicode_offset))
    return found


def _extra_data(data: bytes, pos: int) -> list[str]:
    found: list[str] = []
    for _ in range(_MAX_BLOCKS):
        if pos + 8 > len(data):
            break
        size, signature = struct.unpack_from("<II", data, pos)
        if size < 8:
            break  # the terminal block (size < 4) or garbage
        if signature in (_ENVIRONMENT_BLOCK, _ICON_ENVIRONMENT_BLOCK) and size >= _PATH_BLOCK_SIZE:
            block = data[pos + 8 : pos + _PATH_BLOCK_SIZE]
            found.append(_ansi_z(block, 0))
            found.append(_unicode_z(block, 260))
        pos += size
    return found


def _ansi_z(data: bytes, offset: int) -> str:
    if not 0 <= offset < len(data):
        return ""
    end = data.find(b"\0", offset)
    # The ANSI strings are in the system code page; cp1252 decodes every byte a path could hold.
    return data[offset : end if end >= 0 else len(data)].decode("cp1252", errors="replace")


def _unicode_z(data: bytes, offset: int) -> str:
    if not 0 <= offset < len(data):
        return ""
    end = offset
    while end + 1 < len(data) and data[end : end + 2] != b"\0\0":
        end += 2
    return data[offset:end].decode("utf-16-le", errors="replace")


def _decode(raw: bytes, unicode: bool) -> str:
    if unicode:
        return raw[: len(raw) - len(raw) % 2].decode("utf-16-le", errors="replace")
    return raw.decode("cp1252", errors="replace")


def _clean(strings: list[str]) -> list[str]:
    return [text for text in (s.strip().strip("\0") for s in strings) if text]
