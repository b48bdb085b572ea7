from tests.gui.test_library import *
def test_dbg(qtbot, pane, tmp_path):
    markdown = write_markdown(tmp_path / "bicycle.md")
    errors=[]
    pane.controller.failed.connect(errors.append)
    drop(pane, [markdown])
    try:
        qtbot.waitUntil(lambda: all_ready(pane, ["bicycle.md"]), timeout=5000)
    finally:
        print("ROWS", pane.model.rows, errors, pane.controller.busy, pane.controller._queue)
