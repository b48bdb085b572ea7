"""What every ``allma`` command shares: opening the engine around it, errors as a message
and an exit code, JSON output, a collection by name.

Its own module, so that the command modules (``cli``, ``cli_watch``) import it and not
each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import click
import peewee

from allma_desktop.config import AppConfig
from allma_desktop.errors import AllmaError

if TYPE_CHECKING:
    from allma_desktop.orchestrator import Orchestrator

T = TypeVar("T")

EXIT_FAILURE = 1
EXIT_PARTIAL = 2  # some files failed; the rest were indexed


def echo_json(data: object) -> None:
    from allma_desktop.pathnames import displayable

    click.echo(json.dumps(displayable(data), ensure_ascii=False, indent=2))


def print_error(error: AllmaError) -> None:
    click.secho(f"Error: {error.message}", fg="red", err=True)
    if error.hint:
        click.echo(f"  → {error.hint}", err=True)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def engine_command(
    func: Callable[..., Awaitable[int | None]],
) -> Callable[..., None]:
    """Open the orchestrator around a command, and turn AllmaErrors into a message + exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        config: AppConfig = click.get_current_context().obj
        tell_once_about_remote_ollama(config)
        with errors_as_messages(config):
            code = run(with_engine(config, func, *args, **kwargs))
        if code:
            sys.exit(code)

    return wrapper


async def with_engine(
    config: AppConfig, func: Callable[..., Awaitable[int | None]], *args: Any, **kwargs: Any
) -> int | None:
    from allma_desktop.orchestrator import Orchestrator

    orchestrator = Orchestrator(config)
    try:
        await orchestrator.open()
        return await func(orchestrator, *args, **kwargs)
    finally:
        await orchestrator.close()


@contextlib.contextmanager
def errors_as_messages(config: AppConfig) -> Iterator[None]:
    """AllmaErrors (and SQLite failures no service translated) as a message and an exit code."""
    try:
        yield
    except AllmaError as error:
        print_error(error)
        sys.exit(EXIT_FAILURE)
    except (sqlite3.DatabaseError, peewee.DatabaseError) as error:
        print_error(database_error_of(config, error))
        sys.exit(EXIT_FAILURE)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)


def database_error_of(
    config: AppConfig, error: sqlite3.DatabaseError | peewee.DatabaseError
) -> AllmaError:
    """An SQLite failure that no service translated: still a message and a next step."""
    from allma_desktop.orchestrator import damaged_database, database_error

    return database_error(error, config.database_path) or damaged_database(
        config.database_path, str(error)
    )


def tell_once_about_remote_ollama(config: AppConfig) -> None:
    """Before the first command that talks to a non-local Ollama, say what is sent there."""
    from allma_desktop.privacy import acknowledge_remote_host, remote_host_notice

    notice = remote_host_notice(config)
    if notice is not None:
        click.secho(f"Note: {notice}", fg="yellow", err=True)
        acknowledge_remote_host(config)


def collection_id_named(
    orchestrator: Orchestrator, name: str | None, create: bool = False
) -> int | None:
    if not name:
        return None
    for collection in orchestrator.collections():
        if collection.name == name:
            return int(collection.id)
    if create:
        return int(orchestrator.create_collection(name).id)
    raise AllmaError(
        f"There is no collection named '{name}'.",
        "List them with `allma collections`, or ingest into it to create it.",
    )
