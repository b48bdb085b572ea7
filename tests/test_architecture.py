"""The house as docs/ARCHITECTURE.md draws it: who may import whom, read from the code.

Every import counts, at the top of a module, inside a function (a lazy import is still a
dependency) and under ``TYPE_CHECKING`` (a type a module names is part of what it knows).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "allma_desktop"

# The layers, lowest first. A module belongs to the first layer one of whose prefixes it
# starts with (a prefix is a module or a package).
BOTTOM = "bottom"  # records, events, errors, config: plain data any layer may name
SERVICES = "services"  # the services: talking to Ollama, documents, retrieval, the library...
ENGINE = "engine"  # the orchestrator and its peers: the indexer, ingest, the reader, upkeep door
FRONT = "front ends"  # the CLI, the local API, the MCP server, the self-test
GUI = "gui"  # the window's controllers and the app
WIDGETS = "widgets"  # what the window shows

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (WIDGETS, ("allma_desktop.gui.widgets",)),
    (GUI, ("allma_desktop.gui",)),
    (SERVICES, ("allma_desktop.services",)),
    # The indexer's events and ignore rules: plain data, as events.py.
    (BOTTOM, ("allma_desktop.indexer.events", "allma_desktop.indexer.rules")),
    (
        ENGINE,
        (
            "allma_desktop.orchestrator",
            "allma_desktop.closed_library",
            "allma_desktop.indexer",
            "allma_desktop.ingest",
            "allma_desktop.reader",
        ),
    ),
    (
        FRONT,
        (
            "allma_desktop.api",
            "allma_desktop.cli",
            "allma_desktop.cli_support",
            "allma_desktop.cli_watch",
            "allma_desktop.mcp_server",
            "allma_desktop.selftest",
            "allma_desktop.__main__",
        ),
    ),
)

# Which layers each layer may import (its own always).
MAY_IMPORT: dict[str, set[str]] = {
    BOTTOM: set(),
    SERVICES: {BOTTOM},
    ENGINE: {BOTTOM, SERVICES},
    FRONT: {BOTTOM, ENGINE, GUI},  # the CLI starts the window; the API serves it
    GUI: {BOTTOM, ENGINE, FRONT, WIDGETS},  # the window starts the local API
    WIDGETS: {BOTTOM, GUI},  # controllers' signals and their row types, never the engine
}

QT = ("PySide6", "qasync", "shiboken6")
MAY_IMPORT_QT = {GUI, WIDGETS}
QT_ALSO = {"allma_desktop.selftest"}  # the binary's self-test checks that Qt loads


def layer_of(module: str) -> str:
    for layer, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return layer
    return BOTTOM


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, *, types_too: bool = True) -> Iterator[str]:
    """Every module ``path`` imports (for ``from a import b``: ``a.b`` when it is a module);
    without ``types_too``, not those under ``if TYPE_CHECKING:`` (names for annotations)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only: set[int] = set()
    if not types_too:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                type_only.update(id(inner) for part in node.body for inner in ast.walk(part))
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for alias in node.names:
                if f"{node.module}.{alias.name}" in MODULES:
                    yield f"{node.module}.{alias.name}"


IMPORTS = {module: set(imports_of(path)) for module, path in MODULES.items()}
RUNTIME_IMPORTS = {
    module: set(imports_of(path, types_too=False)) for module, path in MODULES.items()
}


def test_every_layer_imports_only_the_layers_below_it() -> None:
    wrong = [
        f"{module} ({layer_of(module)}) imports {name} ({layer_of(name)})"
        for module, names in IMPORTS.items()
        for name in sorted(names)
        if name in MODULES
        and layer_of(name) != layer_of(module)
        and layer_of(name) not in MAY_IMPORT[layer_of(module)]
    ]
    assert wrong == []


@pytest.mark.parametrize("layer", [SERVICES, FRONT, WIDGETS])
def test_what_no_front_end_may_name(layer: str) -> None:
    """Said once more for the rules people break: no front end names a service, and no
    widget names the engine; the orchestrator (and its closed-library door) is the door."""
    forbidden = {FRONT: SERVICES, WIDGETS: ENGINE, SERVICES: ENGINE}[layer]
    wrong = sorted(
        f"{module} imports {name}"
        for module, names in IMPORTS.items()
        if layer_of(module) == layer
        for name in names
        if name in MODULES and layer_of(name) == forbidden
    )
    assert wrong == []


def test_qt_is_imported_only_by_the_gui() -> None:
    wrong = sorted(
        f"{module} imports {name}"
        for module, names in IMPORTS.items()
        if layer_of(module) not in MAY_IMPORT_QT and module not in QT_ALSO
        for name in names
        if name.split(".")[0] in QT
    )
    assert wrong == []


def test_no_two_modules_import_each_other() -> None:
    """A circle (``factory`` and ``store_process`` once) means neither can be read alone.
    A package and its own modules are exempt (``__init__`` re-exports what they define),
    and so is a name used only in annotations (an owner and what it owns may name each
    other's types)."""
    circles = sorted(
        f"{a} <-> {b}"
        for a, names in RUNTIME_IMPORTS.items()
        for b in names
        if a < b
        and b in MODULES
        and a in RUNTIME_IMPORTS.get(b, ())
        and not b.startswith(a + ".")
        and not a.startswith(b + ".")
    )
    assert circles == []


def test_the_rules_see_every_module() -> None:
    """The test reads the real package: it would pass vacuously on an empty one."""
    assert len(MODULES) > 100
    assert {layer_of(m) for m in MODULES} == {BOTTOM, SERVICES, ENGINE, FRONT, GUI, WIDGETS}
    assert "allma_desktop.services.vectorstore.factory" in MODULES


SERVICES_OF_THE_ORCHESTRATOR = frozenset(
    {"library", "conversations", "store", "llm", "documents", "parse_worker", "rag",
     "ingest_pipeline"}
)  # fmt: skip
MAY_REACH_IN = (
    "allma_desktop.orchestrator",
    "allma_desktop.indexer",
    "allma_desktop.ingest",
)  # its peers work with its services; every other caller goes through its operations


def test_no_caller_reaches_through_the_orchestrator_into_its_services() -> None:
    """``orchestrator.library.x()`` from a front end skips the door as surely as an import."""
    wrong = []
    for module, path in MODULES.items():
        if module.startswith(MAY_REACH_IN):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute) or node.attr not in SERVICES_OF_THE_ORCHESTRATOR:
                continue
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if name == "orchestrator":
                wrong.append(f"{module}:{node.lineno} orchestrator.{node.attr}")
    assert wrong == []


def _blocking_operations() -> frozenset[str]:
    """The orchestrator's plain (not async) methods: each reads or writes SQLite or the store."""
    import inspect

    from allma_desktop.orchestrator import Orchestrator

    return frozenset(
        name
        for name, member in vars(Orchestrator).items()
        if inspect.isfunction(member)
        and not name.startswith("_")
        and not inspect.iscoroutinefunction(member)
        and not inspect.isasyncgenfunction(member)
    )


def _calls_in(function: ast.AST) -> Iterator[ast.Call]:
    """The calls ``function``'s own body makes (not those of functions defined inside it)."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Call):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _blocking_call(call: ast.Call, blocking: frozenset[str], helpers: set[str]) -> str:
    """What ``call`` runs that blocks ('' if nothing): an orchestrator operation, or a
    helper of the module that runs one."""
    func = call.func
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id == "orchestrator"
        and func.attr in blocking
    ):
        return f"orchestrator.{func.attr}()"
    if isinstance(func, ast.Name) and func.id in helpers:
        return f"{func.id}() (it runs an orchestrator operation)"
    return ""


def test_the_api_never_runs_a_blocking_operation_on_the_event_loop() -> None:
    """The local API and the MCP server serve on the app's loop, the window's in the desktop
    app: a plain ``orchestrator.x()`` in a handler holds the window while SQLite answers.
    A handler hands it to ``asyncio.to_thread`` instead (the method, not its call), and so
    does it with a plain helper of its module that makes such calls."""
    blocking = _blocking_operations()
    wrong = []
    for module, path in MODULES.items():
        if not module.startswith(("allma_desktop.api.", "allma_desktop.mcp")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
        helpers = {
            f.name
            for f in functions
            if any(_blocking_call(c, blocking, set()) for c in _calls_in(f))
        }
        for handler in ast.walk(tree):
            if not isinstance(handler, ast.AsyncFunctionDef):
                continue
            for call in _calls_in(handler):
                what = _blocking_call(call, blocking, helpers)
                if what:
                    wrong.append(f"{module}:{call.lineno} {what} in async {handler.name}")
    assert wrong == []


def test_the_blocking_rule_sees_a_handler_that_breaks_it() -> None:
    handler = ast.parse(
        "async def list_collections(orchestrator):\n"
        "    names = [c.name for c in orchestrator.collections()]\n"
        "    return names, helper(orchestrator)\n"
    ).body[0]
    found = [
        _blocking_call(call, _blocking_operations(), {"helper"}) for call in _calls_in(handler)
    ]
    assert "orchestrator.collections()" in found
    assert "helper() (it runs an orchestrator operation)" in found


THE_PALETTE = "allma_desktop.gui.theme"
_COLOUR_TEXT = re.compile(r"(?<![\w&])#(?:[0-9a-fA-F]{8}|[0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b")
_NAMED_COLOURS = re.compile(
    r"\b(?:color|background(?:-color)?)\s*:\s*(?!transparent\b)[a-z]+\s*[;}]"
)


def _colours_in(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Colours a module writes out itself: ``#rrggbb`` text, a named colour in a style
    sheet, ``Qt.GlobalColor.x``, ``QColor`` built from numbers or a literal."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for found in (_COLOUR_TEXT.search(node.value), _NAMED_COLOURS.search(node.value)):
                if found:
                    yield node.lineno, found.group(0)
        elif (
            isinstance(node, ast.Attribute)
            and ast.unparse(node).startswith(("Qt.GlobalColor.", "GlobalColor."))
        ) or (
            isinstance(node, ast.Call)
            and ast.unparse(node.func).split(".")[-1] in ("QColor", "fromRgb", "fromRgbF")
            and node.args
            and all(isinstance(arg, ast.Constant) for arg in node.args)
        ):
            yield node.lineno, ast.unparse(node)


def test_every_colour_of_the_window_comes_from_the_one_palette() -> None:
    """Light and dark were once defined in three places (the theme, the chat's style sheet,
    rendered answers), and an answer kept its light colours in the dark theme."""
    wrong = [
        f"{module}:{line} {colour}"
        for module, path in MODULES.items()
        if layer_of(module) in (GUI, WIDGETS) and module != THE_PALETTE
        for line, colour in _colours_in(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert wrong == []


def test_the_palette_rule_sees_a_colour_written_out() -> None:
    found = {
        colour
        for _, colour in _colours_in(
            ast.parse(
                "css = 'QLabel { color: #d4a72c; }'\n"
                "plain = 'a { background: white; }'\n"
                "shadow.setColor(Qt.GlobalColor.black)\n"
                "brush = QColor(255, 200, 0)\n"
                "ok = (QColor(colors.text), 'see #12 and &#123;', 'background: transparent;')\n"
            )
        )
    }
    assert found == {
        "#d4a72c",
        "background: white;",
        "Qt.GlobalColor.black",
        "QColor(255, 200, 0)",
    }


ARCHITECTURE_DOC = PACKAGE.parent / "docs" / "ARCHITECTURE.md"
_DRAWN_NAME = re.compile(r"(?<![\w/.])((?:[a-z_]+/)*[a-z_]+(?:\.py|/))(?=\s|$)")


def _drawing() -> str:
    """The drawing of the layers: the first code block of docs/ARCHITECTURE.md."""
    text = ARCHITECTURE_DOC.read_text(encoding="utf-8")
    return text.split("```", 2)[1]


def _drawn_paths(drawing: str) -> set[Path]:
    """What the drawing names, each where it is: a name under ``services/`` is one of its
    rooms when the package has no such top-level name."""
    found = set()
    for name in _DRAWN_NAME.findall(drawing):
        path = PACKAGE / name
        if not path.exists() and (PACKAGE / "services" / name).exists():
            path = PACKAGE / "services" / name
        found.add(path)
    return found


def _parts_to_draw() -> set[Path]:
    """Every top-level module and package (one with an ``__init__``), and every room of
    ``services/`` with its loose modules."""

    def python(path: Path) -> bool:
        return (path.suffix == ".py" and path.stem not in ("__init__", "__main__")) or (
            path / "__init__.py"
        ).is_file()

    return {p for p in PACKAGE.iterdir() if python(p)} | {
        p for p in (PACKAGE / "services").iterdir() if python(p)
    }


def test_the_drawing_names_only_what_exists_and_everything_there_is() -> None:
    drawn = _drawn_paths(_drawing())
    missing = sorted(str(p.relative_to(PACKAGE)) for p in drawn if not p.exists())
    undrawn = sorted(str(p.relative_to(PACKAGE)) for p in _parts_to_draw() - drawn)
    assert len(drawn) > 30  # the drawing was found and read
    assert missing == []
    assert undrawn == []


def test_the_drawing_rule_sees_a_name_that_is_not_there() -> None:
    drawn = _drawn_paths(" orchestrator.py  retrieval/  indexer/events.py  old_engine.py\n")
    assert drawn == {
        PACKAGE / "orchestrator.py",
        PACKAGE / "services" / "retrieval",
        PACKAGE / "indexer" / "events.py",
        PACKAGE / "old_engine.py",
    }
    assert not (PACKAGE / "old_engine.py").exists()
