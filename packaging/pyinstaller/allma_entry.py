"""The frozen app's entry point: ``allma`` (GUI, plus --version / --self-test).

``freeze_support()`` must run first: the document parser runs in ``spawn``ed worker
processes, and in a frozen app each of them starts this same executable.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from allma_desktop.gui.app import main

    sys.exit(main())
