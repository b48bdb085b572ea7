"""Row (j): a question answered through the app by a real OpenAI-compatible server
(``python -m llama_cpp.server`` with SmolLM2-135M), against the same request sent to that
server alone.

The app (orchestrator: retrieval, prompt, streamed chat over SSE, saving the answer)
answers the sample PDF's question with chat from llama.cpp's server and embeddings from
the Ollama-protocol test server. Every chat request the app makes is recorded; the
baseline sends each one again, byte for byte the same JSON, with a plain streaming
``httpx`` client and reads the stream to its end. Greedy decoding (temperature 0), so
both generate the same tokens. The engine is opened once and kept open, as in the app;
after a warm-up answer, runs alternate app / baseline under the same load (both then find
the prompt in llama.cpp's cache, as a repeated question would).
Ratio = server-alone time / app time: 100% means the app adds nothing to the answer's
time; the time to first token is given for both.

    ../bench-venv/bin/python -m bench.openai_chat [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Spread, row

TARGET_RATIO = 0.90


async def _app_answer(engine: Any, question: str) -> tuple[float, float]:
    """(seconds to the first token, seconds to the whole answer) through the orchestrator."""
    from allma_desktop.events import AnswerDone, TokenChunk

    started = time.perf_counter()
    first: float | None = None
    async for event in engine.chat(None, question):
        if isinstance(event, TokenChunk) and first is None:
            first = time.perf_counter() - started
        if isinstance(event, AnswerDone) and event.error is not None:
            raise event.error
    total = time.perf_counter() - started
    return first or total, total


def _record_chat_requests(engine: Any, sent: list[dict[str, Any]]) -> None:
    """Keep the JSON of every chat request the engine sends to the chat server."""
    client = engine.llm.chat._http  # the chat server's httpx client
    stream = client.stream

    def recording_stream(method: str, url: str, **kwargs: Any) -> Any:
        if url == "chat/completions":
            sent.append(kwargs["json"])
        return stream(method, url, **kwargs)

    client.stream = recording_stream


async def _server_alone(url: str, payload: dict[str, Any]) -> tuple[float, float]:
    """The same request straight to the server: (first token, whole stream) in seconds."""
    import httpx

    async with httpx.AsyncClient(base_url=url + "/", timeout=300) as client:
        started = time.perf_counter()
        first: float | None = None
        async with client.stream("POST", "chat/completions", json=payload) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                for choice in chunk.get("choices") or ():
                    if (choice.get("delta") or {}).get("content") and first is None:
                        first = time.perf_counter() - started
        total = time.perf_counter() - started
    return first or total, total


async def measure(runs: int) -> None:
    from allma_desktop.config import AppConfig
    from allma_desktop.orchestrator import Orchestrator
    from tests.support.llama_cpp_server import MODEL_ALIAS, LlamaCppServer
    from tests.support.ollama_server import OllamaTestServer
    from tests.support.sample_docs import PDF_QUESTION, make_sample_library

    with (
        tempfile.TemporaryDirectory(prefix="allma-bench-") as folder,
        OllamaTestServer() as ollama,
        LlamaCppServer() as llama,
    ):
        samples = make_sample_library(Path(folder) / "docs")
        config = AppConfig.from_mapping(
            {
                "ollama_host": ollama.url,
                "data_dir": str(Path(folder) / "data"),
                "llm_provider": "openai-compatible",
                "llm_base_url": llama.url,
                "ollama_model": MODEL_ALIAS,
                "temperature": 0.0,
            }
        )
        engine = Orchestrator(config)
        await engine.open()  # open once and kept open, as in the app
        app_first, app_total, alone_first, alone_total = [], [], [], []
        sent: list[dict[str, Any]] = []
        try:
            async for _ in engine.ingest([samples.pdf]):
                pass
            _record_chat_requests(engine, sent)
            await _app_answer(engine, PDF_QUESTION)  # warm-up: model, store, caches
            for _ in range(runs):
                first, total = await _app_answer(engine, PDF_QUESTION)
                app_first.append(first)
                app_total.append(total)
                first, total = await _server_alone(llama.url, sent[-1])
                alone_first.append(first)
                alone_total.append(total)
        finally:
            await engine.close()
    app, alone = Spread(tuple(app_total)), Spread(tuple(alone_total))
    print(f"app, whole answer:          {app.describe('s', 2)}")
    print(f"server alone, whole answer: {alone.describe('s', 2)}")
    print(
        f"first token: app {Spread(tuple(app_first)).describe('s', 2)}, "
        f"server alone {Spread(tuple(alone_first)).describe('s', 2)}"
    )
    ratio = alone.median / app.median
    verdict = "yes" if ratio >= TARGET_RATIO else "no"
    print(
        "ROW "
        + row(
            "(j) answer via llama.cpp's OpenAI server",
            f"{app.median:.2f} s",
            f"{alone.median:.2f} s",
            f"{100 * ratio:.0f}%",
            f">= {100 * TARGET_RATIO:.0f}%",
            verdict,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from tests.support.llama_cpp_server import missing

    absent = missing()
    if absent:
        why = f"skipped: missing {', '.join(absent)}"
        print(f"ROW | (j) answer via llama.cpp's OpenAI server | {why} | | | | ")
        return
    asyncio.run(measure(args.runs))


if __name__ == "__main__":
    main()
