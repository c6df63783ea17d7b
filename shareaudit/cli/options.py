"""Click options in groups: each group adds its options to a command and hands it one dataclass."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click


def grouped(
    name: str,
    options: Sequence[Callable[[Any], Any]],
    keys: Sequence[str],
    build: Callable[[dict[str, Any]], Any],
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator adding `options` to a command, which receives `build(values of keys)` as argument `name`.

    The options keep their own parameter names, so a config file's defaults (click's default_map) and
    `ctx.get_parameter_source` still see them.
    """

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def call(*args: Any, **kwargs: Any) -> Any:
            values = {key: kwargs.pop(key) for key in keys if key in kwargs}
            return command(*args, **{name: build(values)}, **kwargs)

        wrapped: Callable[..., Any] = call
        for option in reversed(options):
            wrapped = option(wrapped)
        return wrapped

    return decorate


def data_dir_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--data-dir` ($SHAREAUDIT_DATA_DIR): `what` lives there; the same option on every command."""
    return click.option(
        "--data-dir",
        type=click.Path(path_type=Path, file_okay=False),
        envvar="SHAREAUDIT_DATA_DIR",
        help=f"Where {what}. Default: the user data directory.",
    )


def history_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--history FILE`, the SQLite history database, as argument `history_file`."""
    return click.option(
        "--history", "history_file", type=click.Path(path_type=Path, dir_okay=False), help=help
    )
