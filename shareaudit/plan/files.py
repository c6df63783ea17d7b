"""Reading input files: TOML checked by a pydantic model, every problem said in one line.

Every file shareaudit reads (the config, the identities file, suppressions, the medical file-type table,
the rule texts) goes through `read_toml` (or `load_toml`): UTF-8 text (a byte-order mark is allowed),
parsed by tomllib, validated by a pydantic model with unknown keys refused. Whatever goes wrong becomes
one `InputError` (or the caller's subclass) of the form

    FILE:LINE: dotted.key[0].name: what is wrong

where LINE is the line the key is written on (or the table it belongs to), so an admin can go straight
to it. Line numbers are worked out only when there is an error: reading a good file costs nothing extra.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from shareaudit.errors import InputError

M = TypeVar("M", bound=BaseModel)
Loc = Sequence[str | int]


# The input models' config (`model_config = STRICT`): unknown keys refused, no type coercion (a quoted
# number is an error), frozen. Models subclass BaseModel directly, so linters know them as pydantic's.
STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)


# A path is written as a TOML string; strict mode would want a Path object.
LaxPath = Annotated[Path, Field(strict=False)]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_KEY_PART = re.compile(r"""\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*""")
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)|\(at end of document\)")
# pydantic's prefixes for errors raised by validators: the message alone reads better.
_PREFIXES = ("Value error, ", "Assertion failed, ")
# pydantic's words where they would name an internal class or say "field" for a key.
_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "dict_type": "expected a table",
}


def read_toml(
    source: Path | str | bytes,
    what: str,
    *,
    name: str | None = None,
    error: type[InputError] = InputError,
) -> TomlDocument:
    """Read and parse a TOML file (a Path) or TOML text/bytes named `name` (packaged data).

    `what` says what the file is for a read error ("cannot read config PATH: ..."); `error` is the
    exception class raised (InputError or a subclass).
    """
    if isinstance(source, Path):
        name = name or str(source)
        try:
            raw: str | bytes = source.read_bytes()
        except OSError as exc:
            raise error(f"cannot read {what} {source}: {exc.strerror or exc}") from exc
    else:
        if name is None:
            raise ValueError("TOML given as text needs a name")
        raw = source
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            partial = TomlDocument(name, raw.decode("utf-8-sig", errors="replace"), {}, error)
            line = raw[: exc.start].count(b"\n") + 1
            column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            problem = f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {column})"
            raise partial.problem_at(line, problem) from None
    else:
        text = raw.removeprefix("\ufeff")
    document = TomlDocument(name, text, {}, error)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _TOML_POSITION.search(message)
        if position and position.group(1):
            line = int(position.group(1))
        else:
            line = len(text.splitlines()) or 1
            message = message.replace("(at end of document)", f"(at end of document, line {line})")
        key = document.key_at(line)
        raise error(
            f"{name}: not valid TOML: {_one_line(message)}" + (f" (in {key})" if key else "")
        ) from None
    except RecursionError:
        raise document.problem_at(document.deepest_line, "arrays or tables nested too deeply") from None
    return TomlDocument(name, text, data, error)


def load_toml(
    source: Path | str | bytes,
    model: type[M],
    what: str,
    *,
    name: str | None = None,
    error: type[InputError] = InputError,
) -> M:
    """Read a TOML file (or named text) and validate it with `model`; one-line `error` on any problem."""
    return read_toml(source, what, name=name, error=error).validate(model)


@dataclass(frozen=True)
class TomlDocument:
    """A parsed TOML file: its name, text and data, and how to say where a problem in it is."""

    name: str
    text: str
    data: Mapping[str, Any]
    error: type[InputError] = InputError

    def validate(self, model: type[M]) -> M:
        """The data as `model`; the first problem (unknown keys first) as one line naming file, line, key."""
        try:
            return model.model_validate(self.data)
        except ValidationError as exc:
            errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
            first = errors[0]
            path = self._data_path(first)
            others = {tuple(self._data_path(e)) for e in errors[1:]} - {tuple(path)}
            more = f" (and {len(others)} more)" if others else ""
            # `from None`: the ValidationError holds the input values, which may be secrets.
            raise self.problem(path, _message(first) + more) from None
        except RecursionError:
            raise self.problem_at(self.deepest_line, "arrays or tables nested too deeply") from None

    def problem(self, loc: Loc, message: str) -> InputError:
        """An error about the key at `loc` (keys and list indices): FILE:LINE: key: message."""
        key = dotted(loc)
        where = f"{self.name}:{self.line_of(loc)}"
        return self.error(
            f"{where}: {key}: {_one_line(message)}" if key else f"{where}: {_one_line(message)}"
        )

    def problem_at(self, line: int, message: str) -> InputError:
        """An error about a line: FILE:LINE: key: message (the key assigned or table opened there)."""
        key = self.key_at(line)
        return self.error(f"{self.name}:{line}: {key + ': ' if key else ''}{_one_line(message)}")

    def line_of(self, loc: Loc) -> int:
        """The line where the key at `loc` is written (or its nearest enclosing table or key); 1 if unknown."""
        lines = self._scan.lines
        path = tuple(loc)
        for end in range(len(path), 0, -1):
            if path[:end] in lines:
                return lines[path[:end]]
        return 1

    def key_at(self, line: int) -> str:
        """The dotted key written at `line`: assigned or opened there, or whose value the line continues."""
        scan = self._scan
        found: tuple[str | int, ...] = ()
        for number, path in scan.keys:
            if number > line:
                break
            if number == line or line in scan.continued:
                found = path
        return dotted(found)

    @property
    def deepest_line(self) -> int:
        """The line where arrays/inline tables are nested deepest (where a too-deep file goes wrong)."""
        return self._scan.deepest

    @cached_property
    def _scan(self) -> _Scan:
        return _scan(self.text)

    def _data_path(self, error: ErrorDetails) -> list[str | int]:
        """pydantic's loc reduced to keys and indices present in the data (union and validator tags dropped)."""
        path: list[str | int] = []
        node: Any = self.data
        loc = error["loc"]
        for number, part in enumerate(loc):
            if isinstance(node, Mapping) and isinstance(part, str):
                if part in node:
                    node = node[part]
                elif number == len(loc) - 1 and error["type"] == "missing":
                    node = None
                else:
                    continue  # a tag such as 'function-after[...]' or a union member's name
                path.append(part)
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
                path.append(part)
        return path


def dotted(loc: Loc) -> str:
    """A key path as written: a.b[0].c, quoting keys that are not bare TOML keys."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            word = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
            text += f".{word}" if text else word
    return text


def _message(error: ErrorDetails) -> str:
    if error["type"] in _MESSAGES:
        return _MESSAGES[error["type"]]
    message = error["msg"]
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    return message


def _one_line(message: str) -> str:
    return " ".join(message.split("\n"))


@dataclass(frozen=True)
class _Scan:
    lines: dict[tuple[str | int, ...], int]  # key path (with array-of-tables indices) -> first line
    keys: list[tuple[int, tuple[str | int, ...]]]  # (line, key path) of every assignment and header
    continued: set[int]  # lines that continue a value begun on an earlier line (array, string)
    deepest: int


def _split_key(text: str) -> tuple[list[str], str] | None:
    """A dotted key at the start of `text`, and the rest after it; None if there is none."""
    parts: list[str] = []
    position = 0
    while True:
        match = _KEY_PART.match(text, position)
        if not match:
            return None
        basic, literal, bare = match.groups()
        if basic is not None:
            try:
                parts.append(json.loads(f'"{basic}"'))
            except ValueError:
                parts.append(basic)
        else:
            parts.append(literal if literal is not None else bare)
        position = match.end()
        if not text.startswith(".", position):
            return parts, text[position:]
        position += 1


def _scan(text: str) -> _Scan:
    """Where each key is written: a small TOML lexer (strings, comments, brackets), never recursive."""
    lines: dict[tuple[str | int, ...], int] = {}
    keys: list[tuple[int, tuple[str | int, ...]]] = []
    continued: set[int] = set()
    arrays: dict[tuple[str | int, ...], int] = {}  # array-of-tables path -> how many elements so far
    current: tuple[str | int, ...] = ()
    in_string: str | None = None  # the delimiter of an open multi-line string
    depth = deepest_depth = 0
    deepest = 1

    def resolve(parts: list[str]) -> tuple[str | int, ...]:
        path: tuple[str | int, ...] = ()
        for part in parts:
            if path in arrays:  # inside an array of tables: its last element
                path = (*path, arrays[path] - 1)
            path = (*path, part)
        return path

    def record(path: tuple[str | int, ...], number: int) -> None:
        for end in range(1, len(path) + 1):
            lines.setdefault(path[:end], number)
        keys.append((number, path))

    for number, line in enumerate(text.splitlines(), start=1):
        if in_string is None and depth == 0:
            stripped = line.lstrip()
            if stripped.startswith("[["):
                found = _split_key(stripped[2:])
                if found and found[1].lstrip().startswith("]]"):
                    array = resolve(found[0])
                    index = arrays.get(array, 0)
                    arrays[array] = index + 1
                    current = (*array, index)
                    record(current, number)
            elif stripped.startswith("["):
                found = _split_key(stripped[1:])
                if found and found[1].lstrip().startswith("]"):
                    current = resolve(found[0])
                    record(current, number)
            else:
                found = _split_key(stripped)
                if found and found[1].startswith("="):
                    record((*current, *found[0]), number)
        else:
            continued.add(number)
        position = 0
        while position < len(line):
            if in_string is not None:
                if in_string == '"""' and line[position] == "\\":
                    position += 2
                elif line.startswith(in_string, position):
                    position += 3
                    in_string = None
                else:
                    position += 1
                continue
            char = line[position]
            if char == "#":
                break
            if line.startswith(('"""', "'''"), position):
                in_string = line[position : position + 3]
                position += 3
            elif char == '"':
                position += 1
                while position < len(line) and line[position] != '"':
                    position += 2 if line[position] == "\\" else 1
                position += 1
            elif char == "'":
                end = line.find("'", position + 1)
                position = end + 1 if end >= 0 else len(line)
            else:
                if char in "[{":
                    depth += 1
                    if depth > deepest_depth:
                        deepest_depth, deepest = depth, number
                elif char in "]}":
                    depth = max(depth - 1, 0)
                position += 1
    return _Scan(lines, keys, continued, deepest)
