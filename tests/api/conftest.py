"""A real uvicorn server with the API on a free loopback port, over the Ollama test server.

The server runs in a thread with its own event loop (as in the app, uvicorn and the
orchestrator share one loop), so synchronous clients (httpx, openai, schemathesis)
can call it from the tests. Starting the engine is the slow part, so a test module
shares one server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI

from allma_desktop.api.app import ApiOptions, create_app
from allma_desktop.api.server import ApiServer
from allma_desktop.api.token_file import api_token
from allma_desktop.config import AppConfig
from allma_desktop.orchestrator import Orchestrator
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import SampleLibrary, make_sample_library

T = TypeVar("T")
START_TIMEOUT = 60.0
CALL_TIMEOUT = 30.0


@pytest.fixture(scope="package")
def ollama_server() -> Iterator[OllamaTestServer]:
    """One Ollama-protocol test server for the package (overrides the per-test one)."""
    with OllamaTestServer() as server:
        yield server


@dataclass
class RunningApi:
    """The API server as the tests see it."""

    url: str
    token: str
    config: AppConfig
    orchestrator: Orchestrator
    samples: SampleLibrary
    loop: asyncio.AbstractEventLoop
    app: FastAPI
    changes: list[str] = field(default_factory=list)  # what on_change was told

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, **kwargs: Any) -> httpx.Client:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return httpx.Client(base_url=self.url, headers=headers, timeout=CALL_TIMEOUT, **kwargs)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the server's loop (the orchestrator lives there)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(CALL_TIMEOUT)

    def wait_for_job(self, job_id: str) -> None:
        """Block until the ingest job has ended (awaited on the server's loop, no polling)."""
        task = self.app.state.allma.jobs.get(job_id).task

        async def finished() -> None:
            await asyncio.shield(task)

        self.run(finished())


class _ServerThread(threading.Thread):
    def __init__(self, config: AppConfig, options: ApiOptions, samples: SampleLibrary) -> None:
        super().__init__(name="api-test-server", daemon=True)
        self.config = config
        self.options = options
        self.samples = samples
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self.api: RunningApi | None = None
        self._loop = asyncio.new_event_loop()
        self._stop_requested: asyncio.Event | None = None

    def run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as error:
            self.failure = error
            self.ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop_requested = asyncio.Event()
        orchestrator = Orchestrator(self.config)
        await orchestrator.open()
        try:
            async for _event in orchestrator.ingest([self.samples.folder]):
                pass
            changes: list[str] = []
            app = create_app(lambda: orchestrator, self.config, self.options, changes.append)
            server = ApiServer(app, "127.0.0.1", 0)
            await server.start()
            assert self.options.token is not None
            self.api = RunningApi(
                server.url,
                self.options.token,
                self.config,
                orchestrator,
                self.samples,
                self._loop,
                app,
                changes,
            )
            self.ready.set()
            await self._stop_requested.wait()
            await server.stop()
        finally:
            await orchestrator.close()

    def stop(self) -> None:
        if self._stop_requested is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop_requested.set)
        self.join(START_TIMEOUT)


@contextmanager
def running_api(ollama_server: OllamaTestServer, root: Path) -> Iterator[RunningApi]:
    """An API server over a fresh library (the sample documents indexed) in ``root``."""
    config = AppConfig(
        ollama_host=ollama_server.url,
        ollama_model="deepseek-r1:latest",
        ollama_embedding_model="nomic-embed-text:latest",
        data_dir=root / "data",
    )
    samples = make_sample_library(root / "docs")
    options = ApiOptions(token=api_token(root / "config"), ingest_roots=[root])
    thread = _ServerThread(config, options, samples)
    thread.start()
    if not thread.ready.wait(START_TIMEOUT):
        raise TimeoutError("the API test server did not start")
    if thread.failure is not None or thread.api is None:
        raise RuntimeError("the API test server failed to start") from thread.failure
    try:
        yield thread.api
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def api(
    ollama_server: OllamaTestServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApi]:
    """One server per test module; a test makes its own collections when it changes things.

    Per module, not two at once: peewee binds its models to one database per process.
    """
    with running_api(ollama_server, tmp_path_factory.mktemp("api")) as server:
        yield server


@pytest.fixture
def client(api: RunningApi) -> Iterator[httpx.Client]:
    with api.client() as http:
        yield http


@pytest.fixture
def docs_root(api: RunningApi) -> Path:
    """A folder under the API's allowed ingest root, for files a test makes."""
    return api.samples.folder.parent
