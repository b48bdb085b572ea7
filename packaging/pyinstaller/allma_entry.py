"""The frozen app's entry point: ``allma`` (GUI, plus --version / --self-test, and
``allma mcp``, the MCP server on stdio).

``freeze_support()`` must run first: the document parser runs in ``spawn``ed worker
processes, and in a frozen app each of them starts this same executable.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    if sys.argv[1:2] == ["mcp"]:
        # `allma mcp`: what MCP hosts start (Settings → Use from other apps); the
        # protocol runs on stdio, so no window opens.
        from allma_desktop.cli import main as cli_main

        sys.exit(cli_main())
    from allma_desktop.gui.app import main

    sys.exit(main())
