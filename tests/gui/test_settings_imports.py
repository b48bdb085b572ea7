"""The Settings cards reach the engine through their controllers, never around them."""

from __future__ import annotations

import ast
from pathlib import Path

import allma_desktop.gui.widgets.settings as settings_package

BELOW_THE_CONTROLLERS = (
    "allma_desktop.services",
    "allma_desktop.api",
    "allma_desktop.orchestrator",
)


def imported_modules(source: Path) -> set[str]:
    """Every module ``source`` imports, type-checking imports and imports in functions too."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_no_settings_card_imports_a_service_the_api_or_the_orchestrator() -> None:
    folder = Path(settings_package.__file__).parent
    reaching_down = {
        f"{source.name}: {module}"
        for source in sorted(folder.glob("*.py"))
        for module in imported_modules(source)
        if module.startswith(BELOW_THE_CONTROLLERS)
    }

    assert len(list(folder.glob("*.py"))) > 10  # the cards were found
    assert reaching_down == set()
