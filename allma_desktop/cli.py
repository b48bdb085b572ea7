"""``allma``: the command line over the orchestrator.

Commands read like sentences (``allma ingest ~/papers``, ``allma ask "..."``);
``--json`` gives output for scripts. Every user-facing failure is an
``AllmaError`` printed as message and next step, with a non-zero exit code;
no tracebacks.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from allma_desktop import __version__, cli_watch
from allma_desktop.cli_support import (
    EXIT_FAILURE,
    EXIT_PARTIAL,
    collection_id_named,
    echo_json,
    engine_command,
    errors_as_messages,
    print_error,
    run,
    with_engine,
)
from allma_desktop.config import AppConfig, settings_path
from allma_desktop.errors import AllmaError
from allma_desktop.logging_setup import configure_logging

if TYPE_CHECKING:
    from allma_desktop.events import IngestFinished
    from allma_desktop.orchestrator import Orchestrator
    from allma_desktop.records import DoctorReport, DocumentRecord, GroundingReport
    from allma_desktop.sources import Source

T = TypeVar("T")


def _printable_streams() -> None:
    """A file name that is not valid UTF-8 prints as ``\\xNN`` instead of failing the command."""
    from allma_desktop.pathnames import DISPLAY_ERRORS

    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            # A stream that cannot change (closed, wrapped) is left as it is.
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors=DISPLAY_ERRORS)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="allma")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Allma: ask questions of your own documents, answered by a local model through Ollama."""
    _printable_streams()
    try:
        config = AppConfig.from_env()
    except AllmaError as error:
        print_error(error)
        sys.exit(EXIT_FAILURE)
    configure_logging(config.log_level, console=False)
    ctx.obj = config


# --- ingest -----------------------------------------------------------------------


@cli.command()
# A path that does not exist is a typo: refused (exit 2) before anything is indexed.
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--collection", "collection_name", help="Collection to add to (default: Library).")
@click.option("--force", is_flag=True, help="Re-index files even when unchanged.")
@click.option("--json", "as_json", is_flag=True, help="Print per-file results as JSON.")
@engine_command
async def ingest(
    orchestrator: Orchestrator,
    paths: tuple[Path, ...],
    collection_name: str | None,
    force: bool,
    as_json: bool,
) -> int:
    """Index files and folders (recursively) so they can be searched and asked about."""
    from allma_desktop.events import FileFinished, FileParsed, IngestFinished, IngestStarted

    collection_id = collection_id_named(orchestrator, collection_name, create=True)
    finished: IngestFinished | None = None
    progress: Any = None
    try:
        async for event in orchestrator.ingest(
            list(paths), collection_id=collection_id, force=force
        ):
            if isinstance(event, IngestStarted) and not as_json and event.total_files:
                progress = click.progressbar(
                    length=event.total_files, label="Indexing", file=sys.stderr, show_pos=True
                )
                progress.__enter__()
            elif isinstance(event, FileParsed) and not as_json and progress is not None:
                progress.label = Path(event.path).name[:30].ljust(30)
                progress.render_progress()
            elif isinstance(event, FileFinished):
                if progress is not None and event.status != "skipped":
                    progress.update(1)
            elif isinstance(event, IngestFinished):
                finished = event
    finally:
        if progress is not None:
            progress.__exit__(None, None, None)
    assert finished is not None
    if as_json:
        echo_json([result.as_dict() for result in finished.results])
    else:
        _print_ingest_summary(finished)
    if finished.error is not None:
        if not as_json:
            print_error(finished.error)
        return EXIT_FAILURE
    return EXIT_PARTIAL if finished.count("failed") else 0


@cli.command()
@click.option("--collection", "collection_name", help="Collection to re-embed (default: Library).")
@engine_command
async def reembed(orchestrator: Orchestrator, collection_name: str | None) -> int:
    """Re-embed a collection with the current embedding model (no re-parsing).

    Search keeps using the old vectors until every document is done.
    """
    from allma_desktop.events import FileFinished, IngestFinished

    collection_id = collection_id_named(orchestrator, collection_name)
    finished: IngestFinished | None = None
    async for event in orchestrator.reembed(collection_id):
        if isinstance(event, FileFinished):
            click.echo(f"✓ {event.path}  ({event.chunks} chunks)")
        elif isinstance(event, IngestFinished):
            finished = event
    assert finished is not None
    if finished.error is not None:
        print_error(finished.error)
        return EXIT_FAILURE
    model = orchestrator.config.ollama_embedding_model
    click.echo(f"Re-embedded {finished.count('indexed')} documents with {model}.")
    return 0


def _print_ingest_summary(finished: IngestFinished) -> None:
    marks = {
        "indexed": ("✓", "green"),
        "unchanged": ("=", None),
        "failed": ("✗", "red"),
        "skipped": ("-", "yellow"),
    }
    for result in finished.results:
        mark, colour = marks[result.status]
        detail = f"{result.chunks} chunks" if result.status == "indexed" else result.reason
        click.secho(
            f"{mark} {result.status:<9} {result.path}" + (f"  ({detail})" if detail else ""),
            fg=colour,
        )
    counts = ", ".join(
        f"{finished.count(s)} {s}"
        for s in ("indexed", "unchanged", "failed", "skipped")
        if finished.count(s)
    )
    click.echo(("Cancelled: " if finished.cancelled else "") + (counts or "nothing to do"))


# --- search and ask -----------------------------------------------------------


@cli.command()
@click.argument("query", nargs=-1, required=True)
@click.option("-k", "--top", "k", type=click.IntRange(1, 50), help="Number of results.")
@click.option("--collection", "collection_name")
@click.option("--json", "as_json", is_flag=True)
@engine_command
async def search(
    orchestrator: Orchestrator,
    query: tuple[str, ...],
    k: int | None,
    collection_name: str | None,
    as_json: bool,
) -> int:
    """Find the passages that best match QUERY, with file and page."""
    collection_id = collection_id_named(orchestrator, collection_name)
    results = await orchestrator.search_results(
        _typed_text(query), collection_id=collection_id, k=k
    )
    sources = results.sources
    if results.notice:  # on stderr: --json output stays the same list
        click.secho(f"Note: {results.notice}", fg="yellow", err=True)
    if as_json:
        echo_json([_source_json(s) for s in sources])
        return 0
    if not sources:
        click.echo("Nothing in your documents matches that.")
    for source in sources:
        click.secho(f"[{source.number}] {_where(source)}  (score {source.score:.3f})", bold=True)
        click.echo(f"    {source.snippet}\n")
    return 0


@cli.command()
@click.argument("question", nargs=-1, required=True)
@click.option("--model", help="Chat model (default: OLLAMA_MODEL).")
@click.option("--collection", "collection_name")
@click.option("--chat", "conversation_id", type=int, help="Continue this conversation.")
@click.option("--no-docs", is_flag=True, help="Answer without searching your documents.")
@click.option(
    "--whole-document",
    "whole_document",
    is_flag=True,
    help="Give the model the whole documents, page by page, if they fit in its context.",
)
@click.option("--passages", is_flag=True, help="Give the model only the passages that best match.")
@click.option("--json", "as_json", is_flag=True)
@engine_command
async def ask(
    orchestrator: Orchestrator,
    question: tuple[str, ...],
    model: str | None,
    collection_name: str | None,
    conversation_id: int | None,
    no_docs: bool,
    whole_document: bool,
    passages: bool,
    as_json: bool,
) -> int:
    """Ask a question; the answer streams, then its sources are listed as file and page,
    with how many of its sentences their sources support.

    The model reads the whole documents, page by page, when they fit in its context
    and the question matches them, else the passages that best match; a conversation
    keeps its own choice (``--whole-document`` or ``--passages`` set it for a new one,
    and for this answer in one continued with ``--chat``).
    """
    from allma_desktop.events import (
        AnswerChecked,
        AnswerDone,
        SourcesFound,
        ThinkingChunk,
        TokenChunk,
    )
    from allma_desktop.records import ContextMode

    if whole_document and passages:
        raise click.UsageError("Choose one of --whole-document and --passages.")
    context_mode = (
        ContextMode.WHOLE if whole_document else ContextMode.PASSAGES if passages else None
    )
    collection_id = collection_id_named(orchestrator, collection_name)
    done: AnswerDone | None = None
    whole: tuple[str, ...] = ()
    thinking_shown = False
    async for event in orchestrator.chat(
        conversation_id,
        _typed_text(question),
        model=model,
        collection_id=collection_id,
        use_documents=not no_docs,
        context_mode=context_mode,
    ):
        if isinstance(event, SourcesFound):
            whole = event.whole_documents
            if whole and not as_json:
                click.secho(f"Reading whole: {', '.join(whole)}", dim=True, err=True)
            continue
        if isinstance(event, AnswerChecked) and done is not None:
            done = replace(done, grounding=event.grounding)
            continue
        if as_json:
            if isinstance(event, AnswerDone):
                done = event
            continue
        if isinstance(event, ThinkingChunk):
            if not thinking_shown:
                click.secho("Thinking…", dim=True, err=True)
                thinking_shown = True
            click.secho(event.text, dim=True, nl=False, err=True)
        elif isinstance(event, TokenChunk):
            if thinking_shown:
                click.echo("\n", err=True)
                thinking_shown = False
            click.echo(event.text, nl=False)
        elif isinstance(event, AnswerDone):
            done = event
    assert done is not None
    if as_json:
        echo_json(
            {
                "answer": done.answer,
                "thinking": done.thinking,
                "sources": [_source_json(s, done.grounding) for s in done.sources],
                "conversation_id": done.conversation_id,
                "message_id": done.message_id,
                "model": done.model,
                "context": _context_name(whole, done.summary_parts),
                "whole_documents": list(whole),
                "summary_parts": done.summary_parts,
                "interrupted": done.interrupted,
                "error": {"message": done.error.message, "hint": done.error.hint}
                if done.error
                else None,
                "grounding": done.grounding.as_dict() if done.grounding else None,
            }
        )
    else:
        click.echo()
        if done.sources:
            click.secho("\nSources:", bold=True)
            for source in done.sources:
                click.echo(f"  [{source.number}] {_where(source)}")
        if done.grounding is not None:
            click.secho(f"\nChecked: {done.grounding.summary}.", dim=True)
            for sentence in done.grounding.unsupported:
                click.secho(f"  ? {sentence.text}\n    {sentence.note}", dim=True)
        if done.error is not None:
            print_error(done.error)
    return EXIT_FAILURE if done.error is not None else 0


def _context_name(whole_documents: Sequence[str], summary_parts: int) -> str:
    """What the model read, for ``--json``: passages, whole documents, or summaries."""
    if not whole_documents:
        return "passages"
    return "summarised in parts" if summary_parts else "whole documents"


def _typed_text(words: tuple[str, ...]) -> str:
    """Words from the command line as text (bytes that are not UTF-8 shown as ``\\xNN``)."""
    from allma_desktop.pathnames import display_text

    return display_text(" ".join(words))


def _where(source: Source) -> str:
    page = f", page {source.page}" if source.page is not None else ""
    return f"{source.path}{page}"


def _source_json(source: Source, grounding: GroundingReport | None = None) -> dict[str, object]:
    """A source as JSON; in an answer, with how many sentences citing it it supports."""
    data = dict(source.as_dict())
    if grounding is not None:
        supported, checked = grounding.per_source().get(source.number, (0, 0))
        data.update(checked_sentences=checked, supported_sentences=supported)
    return data


# --- documents and collections --------------------------------------------------


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def docs(ctx: click.Context, as_json: bool) -> None:
    """List indexed documents with status and chunk count."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(docs_list, as_json=as_json)


@docs.command("list")
@click.option("--json", "as_json", is_flag=True)
@engine_command
async def docs_list(orchestrator: Orchestrator, as_json: bool) -> int:
    """List indexed documents."""
    documents = orchestrator.list_documents()
    names = {c.id: c.name for c in orchestrator.collections()}
    if as_json:
        echo_json(
            [
                {
                    "id": d.id,
                    "path": d.path,
                    "title": d.title,
                    "status": d.status,
                    "chunks": d.chunk_count,
                    "pages": d.page_count,
                    "file_type": d.file_type,
                    "collection": names.get(d.collection_id),
                    "error": d.error,
                }
                for d in documents
            ]
        )
        return 0
    if not documents:
        click.echo("No documents yet. Add some with `allma ingest PATH`.")
    for d in documents:
        status = d.status if d.status != "failed" else f"failed: {d.error}"
        click.echo(f"{d.id[:8]}  {status:<8} {d.chunk_count:>5} chunks  {d.path}")
    return 0


@docs.command("remove")
@click.argument("documents", nargs=-1, required=True)
@engine_command
async def docs_remove(orchestrator: Orchestrator, documents: tuple[str, ...]) -> int:
    """Remove documents (by id, id prefix or path) from the library."""
    failed = 0
    for wanted in documents:
        match = _find_document(orchestrator, wanted)
        if match is None:
            click.secho(f"No document matches '{wanted}'.", fg="red", err=True)
            failed += 1
            continue
        await orchestrator.remove_document(match.id)
        click.echo(f"Removed {match.path}")
    return EXIT_FAILURE if failed else 0


def _find_document(orchestrator: Orchestrator, wanted: str) -> DocumentRecord | None:
    resolved = str(Path(wanted).expanduser().resolve())
    candidates = [
        d
        for d in orchestrator.list_documents()
        if d.id.startswith(wanted) or d.path in (wanted, resolved)
    ]
    return candidates[0] if len(candidates) == 1 else None


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@engine_command
async def collections(orchestrator: Orchestrator, as_json: bool) -> int:
    """List collections with their document and chunk counts."""
    found = orchestrator.collections()
    if as_json:
        echo_json(
            [
                {
                    "id": c.id,
                    "name": c.name,
                    "documents": c.document_count,
                    "chunks": c.chunk_count,
                    "embedding_model": c.embedding_model,
                }
                for c in found
            ]
        )
        return 0
    for c in found:
        click.echo(f"{c.name:<20} {c.document_count:>5} documents {c.chunk_count:>7} chunks")
    return 0


# --- conversations ----------------------------------------------------------------


@cli.group(invoke_without_command=True)
@click.option("--search", "text", help="Only conversations mentioning TEXT.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def chats(ctx: click.Context, text: str | None, as_json: bool) -> None:
    """List, show and delete conversations."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(chats_list, text=text, as_json=as_json)


@chats.command("list")
@click.option("--search", "text", help="Only conversations mentioning TEXT.")
@click.option("--json", "as_json", is_flag=True)
@engine_command
async def chats_list(
    orchestrator: Orchestrator, text: str | None = None, as_json: bool = False
) -> int:
    """List conversations, most recent first."""
    found = orchestrator.search_conversations(text) if text else orchestrator.list_conversations()
    if as_json:
        echo_json(
            [
                {
                    "id": c.id,
                    "title": c.title,
                    "updated_at": str(c.updated_at),
                    "messages": c.message_count,
                }
                for c in found
            ]
        )
        return 0
    if not found:
        click.echo("No conversations yet. Start one with `allma ask QUESTION`.")
    for c in found:
        click.echo(f"{c.id:>5}  {str(c.updated_at)[:16]}  {c.title}")
    return 0


@chats.command("show")
@click.argument("conversation_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@engine_command
async def chats_show(orchestrator: Orchestrator, conversation_id: int, as_json: bool) -> int:
    """Show a conversation with its messages and sources."""
    from allma_desktop.records import whole_documents_note

    conversation = orchestrator.conversation(conversation_id)
    messages = orchestrator.conversation_messages(conversation_id)
    if as_json:
        echo_json(
            {
                "id": conversation.id,
                "title": conversation.title,
                "messages": [
                    {
                        "id": m.id,
                        "role": m.role,
                        "content": m.content,
                        "thinking": m.thinking,
                        "status": m.status,
                        "model": m.model,
                        "sources": [_source_json(s, m.grounding) for s in m.sources],
                        "context": _context_name(m.whole_documents, m.summary_parts),
                        "whole_documents": list(m.whole_documents),
                        "summary_parts": m.summary_parts,
                    }
                    for m in messages
                ],
            }
        )
        return 0
    click.secho(conversation.title, bold=True)
    for m in messages:
        click.secho(
            f"\n{m.role}:" + (f" ({m.status})" if m.status != "complete" else ""), fg="cyan"
        )
        click.echo(m.content)
        if m.whole_documents:
            click.secho(whole_documents_note(m.whole_documents, m.summary_parts), dim=True)
        for s in m.sources:
            click.echo(f"  [{s.number}] {s.path}" + (f", page {s.page}" if s.page else ""))
    return 0


@chats.command("delete")
@click.argument("conversation_id", type=int)
@engine_command
async def chats_delete(orchestrator: Orchestrator, conversation_id: int) -> int:
    """Delete a conversation and its messages."""
    orchestrator.delete_conversation(conversation_id)  # NotFound names the id
    click.echo(f"Deleted conversation {conversation_id}.")
    return 0


# --- models and health -------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@engine_command
async def models(orchestrator: Orchestrator, as_json: bool) -> int:
    """List the models Ollama has."""
    found = await orchestrator.models()
    if as_json:
        echo_json(
            [
                {
                    "name": m.name,
                    "size_bytes": m.size_bytes,
                    "family": m.family,
                    "parameter_size": m.parameter_size,
                    "capabilities": list(m.capabilities),
                }
                for m in found
            ]
        )
        return 0
    config = orchestrator.config
    for m in found:
        role = ""
        if m.name in (config.ollama_model, f"{config.ollama_model}:latest"):
            role = "  (chat model)"
        elif m.name in (config.ollama_embedding_model, f"{config.ollama_embedding_model}:latest"):
            role = "  (embedding model)"
        kind = "chat" if m.can_chat else "embedding" if m.can_embed else "-"
        click.echo(f"{m.name:<32} {m.size_bytes / 1e9:6.1f} GB  {kind:<9}{role}")
    return 0


@cli.command()
@click.argument("name")
@engine_command
async def pull(orchestrator: Orchestrator, name: str) -> int:
    """Download a model into Ollama, with progress."""
    last_status = ""
    with click.progressbar(length=100, label=f"Pulling {name}", file=sys.stderr) as bar:
        shown = 0
        async for progress in orchestrator.pull(name):
            if progress.fraction is not None:
                target = int(progress.fraction * 100)
                if target > shown:
                    bar.update(target - shown)
                    shown = target
            last_status = progress.status
    click.echo(f"{name}: {last_status}")
    return 0


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@engine_command
async def health(orchestrator: Orchestrator, as_json: bool) -> int:
    """Check Ollama, the models and the data folder."""
    report = await orchestrator.health()
    if as_json:
        echo_json(report.as_dict())
        return 0 if report.ok else EXIT_FAILURE
    ollama = report.ollama
    ok, bad = click.style("ok", fg="green"), click.style("problem", fg="red")
    click.echo(
        f"Ollama        {ok if ollama.reachable else bad}  {ollama.host}"
        + (f"  (version {ollama.version})" if ollama.version else "")
    )
    if ollama.reachable:
        click.echo(f"Chat model    {ok if ollama.chat_model_present else bad}  {ollama.chat_model}")
        click.echo(
            f"Embeddings    {ok if ollama.embedding_model_present else bad}  "
            f"{ollama.embedding_model}"
        )
    click.echo(f"Data folder   {ok if report.store_error is None else bad}  {report.store_path}")
    # Each store took (or refused) a real write, not only a probe file beside it.
    click.echo(f"Database      {ok if report.database_error is None else bad}  writes")
    click.echo(f"Vector store  {ok if report.vectors_error is None else bad}  writes")
    click.echo(f"Library       {report.documents} documents, {report.chunks} chunks")
    for problem in report.problems():
        print_error(problem)
    return 0 if report.ok else EXIT_FAILURE


@cli.group()
def settings() -> None:
    """Where the settings live and what they are."""


@settings.command("path")
def settings_show_path() -> None:
    """Print the settings file's path."""
    click.echo(str(settings_path()))


@settings.command("show")
@click.pass_obj
def settings_show(config: AppConfig) -> None:
    """Print the effective settings (environment over settings file over defaults)."""
    shown = config.to_settings()
    for secret in ("chroma_token", "qdrant_api_key"):
        if shown.get(secret):
            shown[secret] = "********"  # set, but not for the screen or a pasted bug report
    echo_json(shown)


# --- maintenance: doctor, backup, restore, export ---


@cli.command()
@click.option("--repair", is_flag=True, help="Fix what can be fixed (re-index the rest).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def doctor(config: AppConfig, repair: bool, as_json: bool) -> None:
    """Check that the database and the vector store agree; --repair makes them agree."""
    from allma_desktop.errors import DatabaseDamaged
    from allma_desktop.records import DoctorReport, Problem

    with errors_as_messages(config):
        try:
            code = run(with_engine(config, _doctor, repair, as_json))
        except DatabaseDamaged as error:
            # The doctor's own finding, reported as such: the library cannot even open.
            damaged = Problem("database_damaged", f"{error.message} {error.hint}")
            code = _print_doctor_report(
                DoctorReport((damaged,), ("database integrity",)), repair, as_json
            )
    sys.exit(code)


async def _doctor(orchestrator: Orchestrator, repair: bool, as_json: bool) -> int:
    def progress(done: int, total: int, path: str) -> None:
        if not as_json:
            click.echo(f"\rRebuilding vectors: {done}/{total} documents", nl=False, err=True)
            if done == total:
                click.echo("", err=True)

    report = await orchestrator.doctor(repair=repair, on_progress=progress)
    return _print_doctor_report(report, repair, as_json)


def _print_doctor_report(report: DoctorReport, repair: bool, as_json: bool) -> int:
    if as_json:
        echo_json(report.as_dict())
        return 0 if report.ok else EXIT_FAILURE
    click.echo("Checked: " + ", ".join(report.checked) + ".")
    for problem in report.problems:
        mark, colour = ("✓ fixed", "green") if problem.repaired else ("✗", "red")
        click.secho(f"{mark}  {problem.description}", fg=colour)
    if not report.problems:
        click.secho("No problems found.", fg="green")
    elif report.remaining:
        fixable = any(p.kind != "database_damaged" for p in report.remaining)
        hint = " Run `allma doctor --repair` to fix them." if fixable and not repair else ""
        click.echo(f"{len(report.remaining)} problem(s) remain.{hint}")
    return 0 if report.ok else EXIT_FAILURE


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@engine_command
async def backup(orchestrator: Orchestrator, path: Path, as_json: bool) -> int:
    """Back up documents, chats and vectors to one archive (PATH: a file or a folder)."""
    result = await orchestrator.back_up(path)
    manifest = result.manifest
    if as_json:
        echo_json(
            {
                "path": str(result.path),
                "size_bytes": result.size_bytes,
                "manifest": manifest.as_dict(),
            }
        )
        return 0
    click.echo(
        f"Backed up {manifest.documents} documents, {manifest.conversations} chats "
        f"to {result.path} ({result.size_bytes / 1e6:.1f} MB)."
    )
    return 0


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def restore(config: AppConfig, path: Path, yes: bool) -> None:
    """Replace the library with a backup; the current one is kept aside.

    Not an engine command on purpose: the library must be closed while it is
    replaced, and a damaged library (the reason to restore) may not open at all.
    """
    from allma_desktop.closed_library import (
        backup_archive_path,
        is_automatic_backup,
        read_backup,
        restore_backup,
    )

    if is_automatic_backup(path):  # an automatic backup: a copy of the database alone
        _restore_database_copy(config, path, yes)
        return
    path = backup_archive_path(path)  # the name `allma backup PATH` gave it
    try:
        manifest = read_backup(path)
        if not yes:
            click.echo(
                f"{path.name}: made {manifest.created_at} by Allma Desktop "
                f"{manifest.app_version}, {manifest.documents} documents, "
                f"{manifest.conversations} chats."
            )
            click.confirm(
                f"Replace the library in {config.data_dir} with it? The current one "
                "is kept next to it",
                abort=True,
            )
        result = restore_backup(config, path)
    except AllmaError as error:
        print_error(error)
        sys.exit(EXIT_FAILURE)
    click.echo(
        f"Restored {result.manifest.documents} documents and "
        f"{result.manifest.conversations} chats into {result.data_dir}."
    )
    if result.previous_data is not None:
        click.echo(f"The previous library is kept in {result.previous_data}.")
    if result.switches_vector_store(config):
        # The backup's vectors went back into its own store's folder; without the
        # switch the library would open on an empty store.
        _use_vector_store(result.vector_store)
        click.echo(
            f"The library now uses the {result.vector_store} vector store, as the backup did."
        )


def _restore_database_copy(config: AppConfig, path: Path, yes: bool) -> None:
    """Put an automatic backup (a copy of the database) back; the vectors stay."""
    from allma_desktop.closed_library import read_automatic_backup, restore_automatic_backup

    try:
        documents, chats = read_automatic_backup(path)
    except AllmaError as error:
        print_error(error)
        sys.exit(EXIT_FAILURE)
    if not yes:
        click.echo(
            f"{path.name}: a copy of the library database, {documents} documents, {chats} chats."
        )
        click.confirm(
            f"Replace the database {config.database_path} with it? The current file is "
            "kept next to it",
            abort=True,
        )
    try:
        result = restore_automatic_backup(config, path)
    except AllmaError as error:
        print_error(error)
        sys.exit(EXIT_FAILURE)
    except OSError as error:
        print_error(
            AllmaError(f"Cannot restore {path}: {error}.", "Check the free space and try again.")
        )
        sys.exit(EXIT_FAILURE)
    click.echo(f"Restored {result.documents} documents and {result.conversations} chats.")
    if result.previous is not None:
        click.echo(f"The replaced database is kept as {result.previous}.")
    click.echo(
        "Run `allma doctor --repair` to bring the vectors in line with it "
        "(documents added since the backup are dropped; add them again)."
    )


def _use_vector_store(backend: str) -> None:
    """Save ``backend`` as the vector store in Settings; warn when the environment overrides it."""
    import os

    from allma_desktop.config import save_settings

    file_only = AppConfig.from_env({}, settings_file=settings_path())
    save_settings(file_only.with_changes(vector_store=backend))
    if os.environ.get("VECTOR_STORE", backend) != backend:
        click.secho(
            f"Note: VECTOR_STORE={os.environ['VECTOR_STORE']} in your environment still "
            "overrides Settings; change or unset it.",
            fg="yellow",
            err=True,
        )


@chats.command("export")
@click.argument("conversation_id", type=int)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file (default: print).",
)
@engine_command
async def chats_export(
    orchestrator: Orchestrator, conversation_id: int, output: Path | None
) -> int:
    """Export a conversation as Markdown, with its sources and thinking."""
    markdown = orchestrator.conversation_markdown(conversation_id)
    if output is None:
        click.echo(markdown, nl=False)
        return 0
    try:
        output.write_text(markdown, encoding="utf-8")
    except OSError as error:
        raise AllmaError(
            f"Cannot write {output}: {error.strerror}.", "Pick another file or folder."
        ) from error
    click.echo(f"Exported conversation {conversation_id} to {output}.")
    return 0


# --- packaging ---


@cli.command("self-test")
def self_test() -> None:
    """Check this installation without Ollama: ingest and search a sample, check the databases."""
    from allma_desktop.selftest import run_self_test

    result = run_self_test()
    click.echo(result.verdict)
    sys.exit(0 if result.passed else EXIT_FAILURE)


# --- local API ---


@cli.command()
@click.option("--host", help="Address to listen on (default: API_HOST, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: API_PORT, 8000).")
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help="Let web pages from this origin call the API (repeatable; none by default).",
)
@click.option("--show-token", is_flag=True, help="Print the bearer token clients must send.")
@engine_command
async def serve(
    orchestrator: Orchestrator,
    host: str | None,
    port: int | None,
    cors_origins: tuple[str, ...],
    show_token: bool,
) -> int:
    """Serve the local API (REST and OpenAI-compatible) until Ctrl+C."""
    from allma_desktop.api.app import ApiOptions, create_app
    from allma_desktop.api.server import ApiServer, exposure_warning
    from allma_desktop.api.token_file import api_token, token_path

    config = orchestrator.config
    host = host or config.api_host
    port = port or config.api_port
    token = api_token()
    app = create_app(
        lambda: orchestrator,
        config,
        ApiOptions(token=token, cors_origins=cors_origins, listen_host=host),
    )
    server = ApiServer(app, host, port, handle_signals=True)
    try:
        # The queue and the watched folders run here, unless the app already runs them.
        await orchestrator.indexer.start(watch=True)
    except AllmaError as error:
        click.secho(f"Note: {error.message} Ingest jobs run on their own.", fg="yellow", err=True)
    await server.start()
    warning = exposure_warning(host, server.port)
    if warning:
        click.secho(f"Warning: {warning}", fg="yellow", err=True)
    click.echo(f"Allma API on {server.url}  (OpenAPI: {server.url}/openapi.json)")
    if show_token:
        click.echo(f"Token: {token}")
    else:
        click.echo(f"Token: in {token_path()} (or run with --show-token)")
    click.echo("Press Ctrl+C to stop.")
    try:
        await server.serve_until_stopped()
    finally:
        await server.stop()
    return 0


@cli.command()
@click.option(
    "--allow-add",
    "add_roots",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, resolve_path=True, path_type=Path),
    help="Also offer an add_files tool, for files inside this folder (repeatable).",
)
@engine_command
async def mcp(orchestrator: Orchestrator, add_roots: tuple[Path, ...]) -> int:
    """Serve your library to AI tools (Claude Desktop, VS Code, Cursor) over MCP on stdio.

    An MCP host starts this command itself; see "Use from other apps" in Settings for a
    ready-made configuration. Tools: search, ask, read_page, list_collections,
    list_documents; with --allow-add, add_files too (read-only otherwise). Nothing is
    printed to stdout but the protocol.
    """
    from allma_desktop.mcp_server import serve_stdio

    await serve_stdio(orchestrator, add_roots)
    return 0


# --- vector stores -----------------------------------------------------------------


@cli.group()
def store() -> None:
    """Where your library's vectors live (VECTOR_STORE)."""


@store.command("migrate")
@click.option(
    "--to",
    "backend",
    required=True,
    type=click.Choice(["chroma", "chroma-http", "faiss", "qdrant"]),
    help="The vector store to move the library to.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verified copy as JSON.")
@click.pass_obj
def store_migrate(config: AppConfig, backend: str, as_json: bool) -> None:
    """Copy the library's vectors to another vector store, verify, then switch to it.

    No re-embedding: the vectors are copied. Safe to interrupt: run it again to resume.
    """
    from allma_desktop.closed_library import move_library
    from allma_desktop.records import MigrationProgress

    def show(progress: MigrationProgress) -> None:
        if not as_json:
            click.echo(
                f"\r{progress.collection}: {progress.copied:,}/{progress.total:,} chunks",
                nl=False,
                err=True,
            )

    try:
        report = move_library(config, config.with_changes(vector_store=backend), on_progress=show)
    except AllmaError as error:
        print_error(error)
        sys.exit(EXIT_FAILURE)
    _use_vector_store(backend)
    if as_json:
        echo_json(
            {
                "vector_store": backend,
                "chunks": report.chunks,
                "collections": [copy.__dict__ for copy in report.collections],
            }
        )
    else:
        click.echo("", err=True)
        click.echo(
            f"Copied and verified {report.chunks:,} chunks in {len(report.collections)} "
            f"collections; the library now uses {backend}."
        )


# Command groups kept in modules of their own register themselves on ``cli``. Run as
# ``python -m allma_desktop.cli``, this module is ``__main__``: those modules must find
# this very module (and its ``cli``) under its package name, not import a second copy.
cli.add_command(cli_watch.watch)
cli.add_command(cli_watch.sync)


def main() -> None:
    import multiprocessing

    # The parse worker is a spawned process; a frozen binary must route it here.
    multiprocessing.freeze_support()
    cli(prog_name="allma")


if __name__ == "__main__":
    main()
