from PySide6.QtCore import Qt

from tests.widgets.conftest import LAYERS, make_workspace
from widgets.qt_run_overview import QtRunOverview
from widgets.qt_workspace_browser import QtWorkspaceBrowser


def _texts(group):
    return [group.child(i).text(0) for i in range(group.childCount())]


def _run_cells(browser, row=0):
    model = browser.runs.model
    return [model.index(row, c).data() for c in range(model.columnCount())]


def test_browser_lists_workspace_and_links_selection(qtbot, session, workspace):
    ws, run_id = workspace
    browser = QtWorkspaceBrowser(session)
    qtbot.addWidget(browser)
    assert _texts(browser.groups["models"]) == []
    session.workspace = ws
    session.workspace_changed.emit(ws)
    assert _texts(browser.groups["models"]) == ["cnn"]
    assert _texts(browser.groups["datasets"]) == ["digits"]
    # the run list is read off the GUI thread
    qtbot.waitUntil(lambda: browser.runs.model.rowCount() == 1, timeout=5000)
    model = browser.groups["models"].child(0)
    assert "97.5%" in model.text(2) and model.text(1) == "safetensors"
    assert "1,797 samples" in browser.groups["datasets"].child(0).text(2)
    cells = _run_cells(browser)
    assert cells[:7] == [run_id, "activations", "2 layers", "cnn", "complete", "12",
                         "digits (test)"]
    assert browser.runs_label.text() == "Runs (1)"

    # view -> model
    with qtbot.waitSignal(session.selection.events.run_id, timeout=1000):
        browser.runs.select(run_id)
    assert session.selection.run_id == run_id
    assert run_id in browser.details.toPlainText()
    assert '"split": "test"' in browser.details.toPlainText()

    # model -> view
    browser.tree.setCurrentItem(browser.groups["models"].child(0))
    assert browser.current_key() == ("model", "cnn")
    assert session.selection.run_id == run_id  # selecting a model leaves the run alone
    session.selection.run_id = None
    session.selection.run_id = run_id
    assert browser.current_key() == ("run", run_id)


def test_browser_follows_catalog_changes_row_by_row(qtbot, session, workspace):
    from visualizer.workspace.catalog import DatasetRecord, RunRecord

    ws, run_id = workspace
    session.workspace = ws
    browser = QtWorkspaceBrowser(session)
    qtbot.addWidget(browser)
    qtbot.waitUntil(lambda: browser.runs.model.rowCount() == 1, timeout=5000)
    session.check_catalog()  # what the fixture wrote: seen
    ws.catalog.put_dataset(DatasetRecord("extra", "deepscope.npz", "datasets/e.h5", "2",
                                         {"n_samples": 5}))
    rec = RunRecord("attr-new", "attribution", "running", "cnn", "digits",
                    {"model": "cnn", "dataset": "digits", "split": "test",
                     "method": "saliency", "limit": 16}, {}, {}, None, None, 1, "h",
                    created_at=ws.run(run_id).record.created_at + 1, finished_at=None)
    ws.catalog.add_run(rec)
    change = session.check_catalog()
    assert change.datasets == {"extra"} and set(change.runs) == {"attr-new"}
    assert _texts(browser.groups["datasets"]) == ["digits", "extra"]
    # newest first; the new run says what it is
    assert _run_cells(browser, 0)[:7] == ["attr-new", "attribution", "saliency", "cnn",
                                         "running", "16", "digits (test)"]
    ws.catalog.update_run("attr-new", status="complete", metrics={"n_samples": 16},
                          finished_at=rec.created_at + 2.5)
    session.check_catalog()
    assert _run_cells(browser, 0)[4] == "complete" and _run_cells(browser, 0)[8] == "2.5 s"
    # sort and filter
    browser.runs.view.sortByColumn(1, Qt.SortOrder.AscendingOrder)  # kind
    assert [_run_cells(browser, r)[1] for r in range(2)] == ["activations", "attribution"]
    browser.runs.filter_edit.setText("SALIENCY")
    assert browser.runs.model.rowCount() == 1 and browser.runs_label.text() == \
        "Runs (1 of 2 shown)"
    browser.runs.filter_edit.setText("")
    browser.runs.status_combo.setCurrentText("running")
    assert browser.runs.model.rowCount() == 0
    browser.runs.status_combo.setCurrentText("all statuses")
    browser.runs.kind_combo.setCurrentText("activations")
    assert [_run_cells(browser, r)[1] for r in range(browser.runs.model.rowCount())] == \
        ["activations"]
    browser.runs.kind_combo.setCurrentText("all kinds")
    ws.catalog.delete_run("attr-new")
    session.check_catalog()
    assert browser.runs.model.rowCount() == 1 and _run_cells(browser)[0] == run_id


def test_untrusted_names_are_plain_text(qtbot, session, tmp_path):
    evil = "<b>x</b>"
    ws, run_id = make_workspace(tmp_path / "ws", model_name=evil)
    session.workspace = ws
    browser = QtWorkspaceBrowser(session)
    overview = QtRunOverview(session)
    qtbot.addWidget(browser)
    qtbot.addWidget(overview)
    assert _texts(browser.groups["models"]) == [evil]
    qtbot.waitUntil(lambda: browser.runs.model.rowCount() == 1, timeout=5000)
    session.selection.run_id = run_id
    model_label = overview.facts["Model"]
    assert model_label.text() == evil
    assert model_label.textFormat() == Qt.TextFormat.PlainText
    assert _run_cells(browser)[3] == evil  # a model view: plain text, never rich
    session.notify("error", evil, evil)
    from widgets.qt_log_panel import QtNotificationList

    notes = QtNotificationList(session)
    qtbot.addWidget(notes)
    session.notify("error", evil, f"{evil} failed")
    assert notes.tree.topLevelItem(0).text(1) == evil


def test_overview_shows_layers_and_links_layer(qtbot, session, workspace):
    ws, run_id = workspace
    session.workspace = ws
    overview = QtRunOverview(session)
    qtbot.addWidget(overview)
    assert overview.stack.currentWidget() is overview.empty
    session.selection.run_id = run_id
    assert overview.stack.currentIndex() == 1
    table = overview.table
    rows = {table.item(r, 1).text(): [table.item(r, c).text() for c in range(7)]
            for r in range(table.rowCount())}
    assert [table.item(r, 1).text() for r in range(table.rowCount())] == list(LAYERS)
    assert rows["conv1"][2] == "4×6×6" and rows["conv1"][3] == "4"
    assert rows["conv1"][6] == "1 (25%)"  # unit 0 is zero everywhere
    assert overview.facts["Accuracy"].text() == "90.0%"
    assert overview.facts["Throughput"].text() == "1,234 samples/s"
    # table -> selection.layer and back
    row = next(r for r in range(table.rowCount()) if table.item(r, 1).text() == "fc1")
    table.selectRow(row)
    assert session.selection.layer == "fc1"
    session.selection.layer = "conv1"
    selected = table.selectionModel().selectedRows()[0].row()
    assert table.item(selected, 1).text() == "conv1"
    assert "conv1" in overview.chart_title.text()


def test_overview_reads_statistics_in_a_job_and_drops_stale_results(qtbot, session,
                                                                    workspace):
    from widgets.qt_job_runner import QtJobRunner

    ws, run_id = workspace
    session.workspace = ws
    runner = QtJobRunner(session.jobs)
    overview = QtRunOverview(session, runner=runner)
    qtbot.addWidget(overview)
    with qtbot.waitSignal(runner.job_finished, timeout=30000) as blocker:
        session.selection.run_id = run_id
        # nothing read on the GUI thread: the page says it is reading until the job ends
        assert overview.stack.currentIndex() == 0
        assert "Reading the layer statistics" in overview.empty.hint.text()
    assert blocker.args[0].state.value == "done"
    qtbot.waitUntil(lambda: overview.stack.currentIndex() == 1)
    assert [overview.table.item(r, 1).text()
            for r in range(overview.table.rowCount())] == list(LAYERS)
    # a result for a run the user has left is not shown
    overview._showing = "another-run"
    overview._on_summarized(ws.run(run_id), [])
    assert overview.layers  # still the summary of the shown run
    runner.shutdown(wait=True)


def test_browser_keeps_changes_that_arrive_while_the_list_loads(qtbot, session, workspace,
                                                                  monkeypatch):
    """The list is read in a thread; a run that finishes meanwhile must not come back
    as 'running' from the older snapshot."""
    import threading

    from visualizer.workspace.catalog import RunRecord

    ws, run_id = workspace
    session.workspace = ws
    ws.catalog.add_run(RunRecord("attr-late", "attribution", "running", "cnn", "digits",
                                 {"method": "saliency"}, {}, {}, None, None, 1, "h",
                                 created_at=1e9, finished_at=None))
    session.check_catalog()
    release, read = threading.Event(), ws.catalog.run_rows

    def slow_snapshot(run_ids=None, **kw):
        rows = read(run_ids, **kw)
        if run_ids is None and not kw:  # the thread's full read: held back
            release.wait(10)
        return rows

    monkeypatch.setattr(ws.catalog, "run_rows", slow_snapshot)
    browser = QtWorkspaceBrowser(session)  # starts the read; it takes its snapshot
    qtbot.addWidget(browser)
    qtbot.wait(100)
    ws.catalog.update_run("attr-late", status="complete")
    session.check_catalog()  # delivered while the snapshot (still "running") is held
    release.set()
    qtbot.waitUntil(lambda: browser.runs.model.total == 2, timeout=5000)
    assert browser.runs.model.run("attr-late").status == "complete"


def test_text_filter_follows_a_changed_row(qtbot, session, workspace):
    from visualizer.workspace.catalog import RunRecord

    ws, _ = workspace
    session.workspace = ws
    browser = QtWorkspaceBrowser(session)
    qtbot.addWidget(browser)
    browser.refresh(wait=True)
    session.check_catalog()
    ws.catalog.add_run(RunRecord("attr-f", "attribution", "running", "cnn", "digits",
                                 {"method": "saliency"}, {}, {}, None, None, 1, "h",
                                 created_at=1e9, finished_at=None))
    session.check_catalog()
    browser.runs.filter_edit.setText("running")
    assert browser.runs.model.rowCount() == 1
    ws.catalog.update_run("attr-f", status="complete")
    session.check_catalog()
    assert browser.runs.model.rowCount() == 0  # no longer matches "running"
