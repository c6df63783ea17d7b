"""The command line documents itself and is documented: every command and option of `shareaudit` has a
help text, and every command and long option is mentioned in README.md or docs/*.md."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from shareaudit.cli.app import cli

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Known gaps: options without a help text, as (command path, long option). Fill the help text in
# shareaudit/cli/*.py and remove the entry here; the test fails while an entry is no longer needed.
MISSING_HELP: set[tuple[str, str]] = set()


def _commands(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(cli))
OPTIONS = [
    (path, parameter)
    for path, command in COMMANDS
    for parameter in command.params
    if isinstance(parameter, click.Option) and "--help" not in parameter.opts
]


def _name(path: tuple[str, ...]) -> str:
    return " ".join(("shareaudit", *path))


def _long(option: click.Option) -> str:
    names = [o for o in (*option.opts, *option.secondary_opts) if o.startswith("--")]
    return names[0] if names else option.opts[0]


@pytest.fixture(scope="module")
def documentation() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in DOCS)


def test_the_walk_sees_every_command() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {
        "",
        "scan",
        "report",
        "rules",
        "config",
        "config check",
        "history",
        "diff",
        "device",
        "discover",
    } <= names
    assert len(OPTIONS) > 50


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[_name(p) for p, _ in COMMANDS])
def test_every_command_has_help(path: tuple[str, ...], command: click.Command) -> None:
    assert (command.help or "").strip(), f"{_name(path)} has no help text"


@pytest.mark.parametrize(("path", "option"), OPTIONS, ids=[f"{_name(p)} {_long(o)}" for p, o in OPTIONS])
def test_every_option_has_help(path: tuple[str, ...], option: click.Option) -> None:
    known_gap = (" ".join(path), _long(option)) in MISSING_HELP
    has_help = bool((option.help or "").strip())
    if known_gap:
        assert not has_help, f"{_name(path)} {_long(option)} has help now: remove it from MISSING_HELP"
    else:
        assert has_help, f"{_name(path)} {_long(option)} has no help text"


def test_the_known_gaps_name_real_options() -> None:
    options = {(" ".join(path), _long(option)) for path, option in OPTIONS}
    assert options >= MISSING_HELP


@pytest.mark.parametrize(("path", "command"), COMMANDS[1:], ids=[_name(p) for p, _ in COMMANDS[1:]])
def test_every_command_is_documented(
    documentation: str, path: tuple[str, ...], command: click.Command
) -> None:
    # As it is typed: `shareaudit config check`, not only the word "check" somewhere.
    assert _name(path) in documentation, f"`{_name(path)}` is in no README.md or docs/*.md"


LONG_OPTIONS = sorted(
    {
        name
        for _, option in OPTIONS
        for name in (*option.opts, *option.secondary_opts)
        if name.startswith("--")
    }
)


@pytest.mark.parametrize("name", LONG_OPTIONS)
def test_every_long_option_is_documented(documentation: str, name: str) -> None:
    # The whole option: --ldap-auth must not count as a mention of --ldap.
    assert re.search(re.escape(name) + r"(?![\w-])", documentation), f"{name} is in no README.md or docs/*.md"


def test_every_rule_is_in_the_readme_rules_table() -> None:
    from shareaudit.rules.engine import rule_text
    from shareaudit.rules.registry import REGISTRY

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        code.id for code in REGISTRY.values() if f"| `{code.id}` | {rule_text(code).severity} |" not in readme
    ]
    assert not missing, f"rules without a row in README.md's rules table: {', '.join(missing)}"
