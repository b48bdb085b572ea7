"""Errors a user can act on.

Every error raised to the CLI, the GUI or the API is an ``AllmaError``: its
``message`` says what went wrong in plain words and its ``hint`` says what to
do next. Callers show both and never a traceback.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class AllmaError(Exception):
    """Base of all errors the user sees; ``hint`` is the next step."""

    code = "error"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


# AllmaError subclasses take other constructor arguments than Exception.args holds, so
# default pickling cannot rebuild them. Across a process boundary (the parse worker, the
# vector store's process) they travel as (class, args, attributes).
ErrorState = tuple[type[AllmaError], tuple[Any, ...], dict[str, Any]]


def pack_error(error: AllmaError) -> ErrorState:
    return type(error), error.args, dict(error.__dict__)


def unpack_error(state: ErrorState) -> AllmaError:
    error_type, args, attributes = state
    error = error_type.__new__(error_type)
    Exception.__init__(error, *args)
    error.__dict__.update(attributes)
    return error


class ConfigError(AllmaError):
    """A configuration value is invalid; names the variable and what it accepts."""

    code = "config_invalid"

    def __init__(self, variable: str, value: object, accepted: str) -> None:
        super().__init__(
            f"{variable}={value!r} is not valid.",
            f"Accepted values: {accepted}.",
        )
        self.variable = variable
        self.value = value
        self.accepted = accepted


# --- Ollama -----------------------------------------------------------------


class OllamaError(AllmaError):
    """Ollama answered with an error that has no more specific kind."""

    code = "ollama_error"


# The same kinds serve other model servers (an OpenAI-compatible one: LM Studio,
# llama.cpp, vLLM): ``server`` names it in the message and ``hint`` fits it.


class OllamaUnreachable(OllamaError):
    code = "ollama_unreachable"

    def __init__(
        self, host: str, detail: str = "", *, server: str = "Ollama", hint: str | None = None
    ) -> None:
        super().__init__(
            f"{server} is not reachable at {host}." + (f" ({detail})" if detail else ""),
            hint
            or "Start it with `ollama serve` (install it from ollama.com if needed), "
            "or set OLLAMA_HOST / the address in Settings to where it runs.",
        )
        self.host = host


class OllamaTimeout(OllamaError):
    code = "ollama_timeout"

    def __init__(self, host: str, seconds: float, *, server: str = "Ollama") -> None:
        super().__init__(
            f"{server} at {host} did not answer within {seconds:g} s.",
            "The model may still be loading or the machine is busy; try again, "
            "or raise the timeout in Settings.",
        )
        self.host = host


class ModelMissing(OllamaError):
    code = "model_missing"

    def __init__(
        self, model: str, role: str = "chat", *, server: str = "Ollama", hint: str | None = None
    ) -> None:
        super().__init__(
            f"The {role} model '{model}' is not available in {server}.",
            hint
            or f"Pull it with `allma pull {model}` (or `ollama pull {model}`), "
            "or pick another model in Settings.",
        )
        self.model = model
        self.role = role


class OllamaRejected(OllamaError):
    """Ollama refused the request itself (HTTP 4xx): the request, not Ollama, must change."""

    code = "ollama_rejected"


class WrongModelKind(OllamaError):
    """A model picked for a job it cannot do: an embedding model to chat with, or the reverse.

    ``role`` is the job it was picked for ("chat" or "embedding"); the message says what
    the model is and what to pick instead, in the words of what the user did.
    """

    code = "wrong_model_kind"

    def __init__(self, model: str, role: str) -> None:
        if role == "embedding":
            message = f"{model} cannot make embeddings: it is a chat model."
            hint = "Pick an embedding model, such as nomic-embed-text."
        else:
            message = f"{model} cannot chat: it is an embedding model."
            hint = "Pick a chat model, such as llama3.2."
        super().__init__(message, hint)
        self.model = model
        self.role = role


class NeedsOllama(AllmaError):
    """A feature only Ollama has (downloading models), asked of another model server."""

    code = "needs_ollama"

    def __init__(self, feature: str, server: str) -> None:
        super().__init__(
            f"{feature} needs Ollama; the model server at {server} manages its own models.",
            "Load or download the model in that server's own app or command, then pick it "
            "in Settings; or set LLM_PROVIDER=ollama to use Ollama.",
        )
        self.feature = feature
        self.server = server


class StreamInterrupted(OllamaError):
    """The answer stream ended before Ollama said it was done."""

    code = "stream_interrupted"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"The answer was cut off: {detail}.",
            "The partial answer is kept; retry to get a complete one.",
        )


# --- Storage ----------------------------------------------------------------


class StoreNotWritable(AllmaError):
    code = "store_not_writable"

    def __init__(self, path: Path | str, detail: str = "") -> None:
        super().__init__(
            f"The data folder {path} is not writable." + (f" ({detail})" if detail else ""),
            "Check its permissions, or point VECTOR_STORE_PATH / the data folder in "
            "Settings to a folder you can write to.",
        )
        self.path = str(path)


class StoreProcessStopped(AllmaError):
    code = "store_process_stopped"

    def __init__(self, exit_code: int | None) -> None:
        super().__init__(
            "The vector store's process stopped unexpectedly"
            + (f" (exit code {exit_code})." if exit_code is not None else "."),
            "Try again: Allma starts it anew. If it keeps stopping, run `allma doctor` and "
            "report it with the log file; nothing already stored was lost.",
        )
        self.exit_code = exit_code


class VectorStoreDamaged(AllmaError):
    """The vector store's files are damaged (an index file cut short by a full disk)."""

    code = "vector_store_damaged"

    def __init__(self, path: Path | str, detail: str) -> None:
        super().__init__(
            f"The vector store in {path} is damaged ({detail}).",
            "Run `allma doctor --repair`: it sets the damaged folder aside and rebuilds every "
            "vector from the texts stored in the library (Ollama and the embedding model "
            "must be running; your files are not read again). Nothing else is lost.",
        )
        self.path = str(path)


class StoreNotResponding(AllmaError):
    """The vector store's process did not answer in time and was stopped."""

    code = "store_not_responding"

    def __init__(self, action: str, seconds: float) -> None:
        super().__init__(
            f"The vector store did not answer within {seconds:g} s ({action}) and was stopped.",
            "It may be stuck on a full or failing disk: free some space and try again, then "
            "run `allma doctor`. Nothing already stored was lost. (ALLMA_STORE_CALL_TIMEOUT "
            "sets the wait.)",
        )
        self.action = action
        self.seconds = seconds


class StoreCallCancelled(AllmaError):
    """A wait for the vector store's process was cancelled (the app is closing)."""

    code = "store_call_cancelled"

    def __init__(self, action: str) -> None:
        super().__init__(
            f"Stopped waiting for the vector store ({action}).",
            "Nothing already stored was lost; run `allma doctor` if it was mid-write.",
        )
        self.action = action


class DiskFull(AllmaError):
    code = "disk_full"

    def __init__(self, path: Path | str) -> None:
        super().__init__(
            f"The disk holding {path} is full.",
            "Free some space (or move the data folder to a larger disk) and try again; "
            "nothing already stored was lost.",
        )
        self.path = str(path)


class DatabaseDamaged(AllmaError):
    """The library's SQLite file is damaged, cut short, or emptied while vectors remain.

    ``backups`` are the automatic backups (newest first) that ``allma restore`` takes.
    """

    code = "database_damaged"

    def __init__(self, path: Path | str, detail: str, backups: Sequence[Path | str] = ()) -> None:
        if backups:
            newest = str(backups[0])
            hint = (
                f"Restore the newest automatic backup with `allma restore {_quoted(newest)}` "
                f"({len(backups)} kept in {Path(newest).parent}), or a backup you made with "
                "`allma restore FILE`. Nothing has been changed or deleted."
            )
        else:
            hint = (
                "Restore a backup you made with `allma restore FILE`. Without one, move the "
                "file aside: Allma Desktop then starts a new library, and `allma ingest` adds "
                "your documents again. Nothing has been changed or deleted."
            )
        super().__init__(f"The library database {path} is damaged ({detail}).", hint)
        self.path = str(path)
        self.backups = [str(backup) for backup in backups]


def _quoted(path: str) -> str:
    return shlex.quote(path)


class EmbeddingDimensionMismatch(AllmaError):
    """A collection's vectors and the current embedding model's vectors differ in size."""

    code = "embedding_dimension_mismatch"

    def __init__(self, stored_dimension: int, given_dimension: int) -> None:
        super().__init__(
            f"This collection was built with {stored_dimension}-dimensional embeddings from "
            f"another model; the current embedding model gives {given_dimension}-dimensional ones.",
            "Re-embed the collection with the current model (rebuild its index), or switch back "
            "to the embedding model it was built with in Settings.",
        )
        self.stored_dimension = stored_dimension
        self.given_dimension = given_dimension


class NotFound(AllmaError):
    code = "not_found"


class BackupInvalid(AllmaError):
    """A backup archive that cannot be restored: damaged, not a backup, or too new."""

    code = "backup_invalid"

    def __init__(self, path: Path | str, detail: str, hint: str = "") -> None:
        super().__init__(
            f"{Path(path).name} cannot be restored: {detail}.",
            hint
            or "Nothing was changed. Pick another backup, or make a new one with "
            "`allma backup PATH`.",
        )
        self.path = str(path)


class Conflict(AllmaError):
    """The request clashes with what the library already holds (a folder already watched):
    nothing wrong with the request itself, so the API answers 409, not 400."""

    code = "conflict"


class InvalidName(AllmaError):
    """A name with nothing to show once its blanks are stripped (spaces, control characters)."""

    code = "invalid_name"


class LibraryInUse(AllmaError):
    """An operation that replaces or moves the library's files, while an engine has it open."""

    code = "library_in_use"

    def __init__(self, data_dir: Path | str, operation: str) -> None:
        super().__init__(
            f"Cannot {operation} while Allma has the library in {data_dir} open "
            "(the app, `allma serve`, `allma watch run` or another command).",
            "Close it first, then try again. Nothing was changed.",
        )
        self.data_dir = str(data_dir)


# --- Documents --------------------------------------------------------------


class DocumentError(AllmaError):
    """A file could not be turned into text; ``reason`` is a short label."""

    code = "document_error"
    reason = "unreadable"

    def __init__(self, path: Path | str, message: str, hint: str = "") -> None:
        super().__init__(f"{Path(path).name}: {message}", hint)
        self.path = str(path)


class UnsupportedFile(DocumentError):
    code = "unsupported_file"
    reason = "unsupported"

    # Photos in formats neither Qt nor Pillow reads (an iPhone's default): what to do.
    UNREAD_PHOTOS = frozenset({".heic", ".heif"})

    def __init__(self, path: Path | str, detail: str = "") -> None:
        suffix = Path(path).suffix.lower()
        if not detail and suffix in self.UNREAD_PHOTOS:
            super().__init__(
                path,
                "HEIC photos cannot be read here",
                "Save it as JPEG or PNG (Photos' or Preview's Export, or the phone's "
                "“Most Compatible” camera format) and add that.",
            )
            return
        super().__init__(
            path,
            detail or f"files of type '{Path(path).suffix or '(none)'}' are not supported",
            "Convert it to PDF, DOCX, Markdown, text or a picture (PNG, JPEG) first.",
        )


class EncryptedDocument(DocumentError):
    code = "encrypted"
    reason = "encrypted"

    def __init__(self, path: Path | str) -> None:
        super().__init__(
            path,
            "is password-protected",
            "Open it, remove the password (or print to an unprotected PDF) and add it again.",
        )


class CorruptDocument(DocumentError):
    code = "corrupt"
    reason = "corrupt"

    def __init__(self, path: Path | str, detail: str = "") -> None:
        super().__init__(
            path,
            "is damaged and cannot be read" + (f" ({detail})" if detail else ""),
            "Re-download or re-export the file and add it again.",
        )


class NoTextLayer(DocumentError):
    """No page gave text, and OCR was off (the subclasses say why else)."""

    code = "no_text"
    reason = "no text layer"

    def __init__(self, path: Path | str) -> None:
        super().__init__(
            path,
            "has no text layer, and OCR (which reads scanned pages and pictures) is off",
            "Turn on OCR in Settings and add it again.",
        )


class NoTextEvenWithOcr(NoTextLayer):
    """OCR read every page that had no text and found nothing either."""

    reason = "no text found even with OCR"

    def __init__(self, path: Path | str) -> None:
        DocumentError.__init__(
            self,
            path,
            "no text found even with OCR (blank or pictures only)",
            "Check that the file is the one you meant; a photo of text needs to be sharp "
            "and upright to be read.",
        )


class BrokenFontEncoding(NoTextLayer):
    """The text layer is there but undecodable (fonts without a Unicode mapping)."""

    reason = "broken font encoding"

    def __init__(self, path: Path | str) -> None:
        DocumentError.__init__(
            self,
            path,
            "its text uses a broken font encoding; read it with OCR (on by default)",
            "Turn OCR back on in Settings and add it again.",
        )


class PictureNeedsOcr(NoTextLayer):
    """A picture (PNG, JPEG, TIFF, ...) with OCR turned off."""

    reason = "a picture, and OCR is off"

    def __init__(self, path: Path | str) -> None:
        DocumentError.__init__(
            self,
            path,
            "is a picture, and OCR (which reads the text in pictures) is off",
            "Turn on OCR in Settings and add it again.",
        )


class OcrDataMissing(NoTextLayer):
    """OCR is on, but the language data it needs cannot be found."""

    reason = "OCR language data missing"

    def __init__(self, path: Path | str) -> None:
        DocumentError.__init__(
            self,
            path,
            "has no text layer, and OCR cannot read it: its language data is missing",
            "Add the language in Settings > Scans and pictures (OCR), reinstall Allma "
            "Desktop (English comes with it), or set ALLMA_TESSDATA to a folder of "
            "Tesseract .traineddata files.",
        )


class EmptyDocument(DocumentError):
    code = "empty"
    reason = "empty"

    def __init__(self, path: Path | str) -> None:
        super().__init__(path, "contains no text", "Check that the file is the one you meant.")


class ParseTimeout(DocumentError):
    """Reading the file took longer than the per-file time limit; the reader was stopped."""

    code = "parse_timeout"
    reason = "too slow to read"

    def __init__(self, path: Path | str, seconds: float) -> None:
        super().__init__(
            path,
            f"took longer than {seconds:g} s to read",
            "The file may be damaged or unusually complex; convert it (print to PDF, "
            "save as DOCX) and add it again.",
        )
        self.seconds = seconds


class DocumentTooLarge(DocumentError):
    """Reading the file needed more memory than the reader may use (``limit_mb``)."""

    code = "document_too_large"
    reason = "too large to read"

    def __init__(self, path: Path | str, limit_mb: int | None = None) -> None:
        limit = f" (the reader may use {limit_mb:,} MB)" if limit_mb else ""
        super().__init__(
            path,
            f"is too large to read into memory{limit}",
            "Split it into smaller files, or raise ALLMA_PARSE_MEMORY_MB. The other files "
            "were not affected.",
        )
        self.limit_mb = limit_mb


class ParserCrashed(DocumentError):
    """The reader process died on the file (a crash in a native parser library)."""

    code = "parser_crashed"
    reason = "reader crashed"

    def __init__(self, path: Path | str) -> None:
        super().__init__(
            path,
            "the reader crashed on this file",
            "The file is probably damaged; re-download or re-export it and add it again.",
        )


# --- Local API --------------------------------------------------------------


class PortInUse(AllmaError):
    """The local API cannot listen because another program holds its port."""

    code = "port_in_use"

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"Port {port} on {host} is already in use, so the local API cannot start.",
            "Stop the program using it, or pick another port: set API_PORT (e.g. "
            "`API_PORT=8001 allma serve`, or `allma serve --port 8001`) or change it in Settings.",
        )
        self.host = host
        self.port = port


class RequestTooLarge(AllmaError):
    code = "request_too_large"

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(
            f"The request body is larger than the limit of {limit_bytes:,} bytes.",
            "Send fewer or smaller files per request, or pass paths on this machine instead.",
        )
        self.limit_bytes = limit_bytes


class PathNotAllowed(AllmaError):
    """A path given to the API that the API will not read (device, socket, outside a root)."""

    code = "path_not_allowed"

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"{path} cannot be added: {reason}.",
            "Name absolute paths of regular files or folders that you could add in the app.",
        )
        self.path = path
        self.reason = reason


# --- OCR languages ----------------------------------------------------------------


class OcrLanguageError(AllmaError):
    """An OCR language could not be added (a bad code, folder or file)."""

    code = "ocr_language"


class OcrLanguageNotInFolder(OcrLanguageError):
    """The folder the user picked holds no ``<language>.traineddata``."""

    code = "ocr_language_not_in_folder"

    def __init__(self, language: str, folder: Path | str, found: Sequence[str] = ()) -> None:
        """``language`` "": none was named, and the folder holds none or several."""
        holds = f" It holds data for: {', '.join(found)}." if found else ""
        if language:
            message = f"The folder {folder} holds no {language}.traineddata.{holds}"
            hint = (
                f"Pick the folder that holds {language}.traineddata (Tesseract's tessdata "
                "folder), or type the code of a language it holds."
            )
        elif found:
            message = f"Which language? The folder {folder} holds several.{holds}"
            hint = "Type the code of the one to add, then pick the folder again."
        else:
            message = f"The folder {folder} holds no Tesseract language data (.traineddata)."
            hint = "Pick the folder that holds the language's .traineddata file."
        super().__init__(message, hint)
        self.language = language
        self.folder = str(folder)


class OcrPackageMissing(OcrLanguageError):
    """No ``tessdata-fast-<language>`` package is published."""

    code = "ocr_package_missing"

    def __init__(self, language: str, package: str) -> None:
        super().__init__(
            f"There is no {package} package to download {language} from.",
            f"Get {language}.traineddata from Tesseract's tessdata_fast collection "
            "(github.com/tesseract-ocr/tessdata_fast) and add it with the From a folder button.",
        )
        self.language = language


class OcrDownloadOffline(OcrLanguageError):
    """The package index could not be reached (no network, a proxy, a firewall)."""

    code = "ocr_download_offline"

    def __init__(self, package: str) -> None:
        super().__init__(
            f"{package} could not be downloaded: the package index cannot be reached; "
            "this computer seems to be offline.",
            "Connect to the internet and try again, or add the language's .traineddata "
            "file with the From a folder button.",
        )


class OcrDownloadDamaged(OcrLanguageError):
    """The downloaded wheel was cut short, or is not what the index said it is."""

    code = "ocr_download_damaged"

    def __init__(self, filename: str, why: str) -> None:
        super().__init__(
            f"{filename} arrived damaged: {why}. Nothing was added.",
            "Try the download again; if it keeps failing, add the language's .traineddata "
            "file with the From a folder button.",
        )


class OcrDownloadCancelled(OcrLanguageError):
    code = "ocr_download_cancelled"

    def __init__(self, package: str) -> None:
        super().__init__(f"The download of {package} was cancelled.")
