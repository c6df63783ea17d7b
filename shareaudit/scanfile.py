"""The scan result document on disk: JSON in, JSON out, with cattrs doing the (un)structuring."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import cattrs
import orjson

from shareaudit.acl import Ace
from shareaudit.errors import InputError
from shareaudit.model import SCHEMA, ScanResult
from shareaudit.render.output import write_atomically

_converter = cattrs.Converter(forbid_extra_keys=False)
T = TypeVar("T")


def _ace_to_dict(ace: Ace) -> dict[str, Any]:
    # Masks are written in hex, with their names, for people reading the JSON.
    return {
        "kind": ace.kind,
        "flags": ace.flags,
        "flag_names": list(ace.flag_names),
        "mask": f"0x{ace.mask:08x}",
        "rights": list(ace.rights),
        "sid": ace.sid,
        "name": ace.name,
        "broad": ace.broad,
    }


def _ace_from_dict(data: dict[str, Any], _: type) -> Ace:
    return Ace(
        kind=data["kind"],
        flags=int(data["flags"]),
        flag_names=tuple(data["flag_names"]),
        mask=int(data["mask"], 16),
        sid=data["sid"],
        name=data.get("name"),
        broad=bool(data.get("broad", False)),
    )


_converter.register_unstructure_hook(Ace, _ace_to_dict)
_converter.register_structure_hook(Ace, _ace_from_dict)
# ScanResult.options holds plain JSON values of any shape (numbers, flags, the bounds table): kept as read.
# (A predicate, not register_structure_hook(object, ...): that would dispatch every class here.)
_converter.register_structure_hook_func(lambda cls: cls is object, lambda value, _: value)


def unstructure(value: object) -> Any:
    """One part of a result (a HostResult, a Finding) as plain JSON-ready data, as it appears in the document."""
    return _converter.unstructure(value)


def structure(data: Any, cls: type[T]) -> T:
    """One part of a result back from its JSON form; cattrs' errors as they are (the caller words them)."""
    return _converter.structure(data, cls)


def to_dict(result: ScanResult) -> dict[str, Any]:
    """The result as plain JSON-ready data, with `schema` first."""
    data: dict[str, Any] = _converter.unstructure(result)
    return {"schema": data.pop("schema"), **data}


def dumps(result: ScanResult) -> str:
    """The result as a JSON document."""
    return json.dumps(to_dict(result), indent=2, ensure_ascii=False) + "\n"


def _encoded(value: Any, level: int) -> str:
    """`value` as `json.dumps(indent=2, ensure_ascii=False)` writes it at nesting `level` of a document."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    except (
        orjson.JSONEncodeError,
        TypeError,
    ):  # a lone surrogate, an integer beyond 64 bits: as dumps() does
        text = json.dumps(value, indent=2, ensure_ascii=False)
    return text.replace("\n", "\n" + "  " * level) if level else text


def pieces(result: ScanResult) -> Iterator[str]:
    """The document of `dumps`, the same text, written piece by piece: the hosts and findings one at a time.

    A /16's document is about 245 MB; built whole (dict tree, then one string) it took 1.6 GB, and the
    standard encoder (pure Python when it indents) 24 s. Here no whole copy exists, and orjson encodes.
    """
    head = to_dict(replace(result, hosts=(), findings=()))
    streamed = {"hosts": result.hosts, "findings": result.findings}
    yield "{"
    for n, (key, value) in enumerate(head.items()):
        yield ("," if n else "") + f"\n  {json.dumps(key, ensure_ascii=False)}: "
        items = streamed.get(key)
        if not items:
            yield _encoded(value, 1)
            continue
        yield "["
        for m, item in enumerate(items):
            yield ("," if m else "") + "\n    " + _encoded(_converter.unstructure(item), 2)
        yield "\n  ]"
    yield "\n}\n"


def write(result: ScanResult, path: Path) -> None:
    """Write atomically: a reader never sees half a file, a crash never leaves one."""
    write_atomically(path, pieces(result))


def read(path: Path) -> ScanResult:
    """Load a saved scan result; InputError on anything that is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not JSON: {exc}") from exc
    except RecursionError:
        raise InputError(f"{path} is not a scan result: its JSON is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts (sys.get_int_max_str_digits)
        raise InputError(f"{path} is not a scan result: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise InputError(f"{path} is not a shareaudit scan result (expected schema {SCHEMA!r})")
    try:
        return _converter.structure(data, ScanResult)
    except cattrs.BaseValidationError as exc:
        raise InputError(f"{path} does not match schema {SCHEMA}: {exc}") from exc
    except (
        RecursionError,
        ValueError,
        TypeError,
        KeyError,
    ) as exc:  # a hostile file that gets past the schema
        raise InputError(f"{path} does not match schema {SCHEMA}: {type(exc).__name__}") from None
