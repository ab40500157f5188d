"""The Embedding view's projection jobs: submit one (or reuse a stored projection with
the same inputs), show its PCA preview and streamed layouts, report its status and
progress, and cancel it.

Only the current job counts: a preview, partial layout, status or result of any other
job (one cancelled, or replaced by a newer Project) is dropped.
"""

from __future__ import annotations

from widgets.embedding.data import Layout


def _resolve(name: str):
    from visualizer.analysis.projection.job import resolve_method

    return resolve_method(name)


class ProjectionJobs:
    """Runs the projections of ``view`` (a ``QtEmbeddingView``), one at a time."""

    def __init__(self, view):
        self.view = view
        self.job = None  # the projection job whose partials/results we want
        view.project_button.clicked.connect(self.project)
        view.cancel_button.clicked.connect(self.cancel)

    def project(self, *, force: bool = False) -> None:
        """Project the current run/layer with the current method and parameters."""
        from visualizer.analysis.projection.api import request_for
        from visualizer.analysis.projection.job import preview_layout, project_job
        from visualizer.analysis.projection.storage import find_stored
        from visualizer.errors import DeepScopeError

        view, state = self.view, self.view.state
        if view.ws is None or not state.source_run or not state.layer:
            view.status.setText("Pick an activation run and a layer first.")
            return
        try:
            request, method_id, params = request_for(
                view.ws, state.source_run, state.layer, state.method,
                **view.params.values())
        except DeepScopeError as exc:
            view.status.setText(str(exc))
            return
        stored = None if force else find_stored(view.ws, state.source_run,
                                                state.layer, method_id, params)
        if stored is not None:
            view.status.setText(f"Stored projection {stored.id} (same inputs) reused.")
            view.show_projection(stored.id)
            return
        self.cancel()
        _, method = _resolve(state.method)
        context_run = state.source_run
        name = f"{method.title.split(' ')[0]} of {state.layer}"

        def on_preview(job):
            if self.job is None or job.request_token != self.job.id:
                return
            partial = job.result
            view._ensure_context(context_run, lambda ctx: self._on_partial_layout(
                partial, token=job.request_token))

        self.job = view.runner.submit(
            project_job, request, name=name, on_done=self._on_project_done,
            on_failed=self._on_project_failed,
            process="warm" if method.in_process else False)
        token = self.job.id
        bridge = view.runner.bridge(self.job)
        if bridge is not None:
            bridge.partial_arrived.connect(lambda p, t=token: self._on_partial_layout(p, t))
            bridge.status_changed.connect(lambda text, t=token: self._on_job_status(text, t))
            bridge.progressed.connect(lambda d, tot, t=token: self._on_job_progress(d, tot, t))
        if method.in_process or method.name != "pca":
            preview = view.runner.submit(preview_layout, request, name="PCA preview",
                                         on_done=on_preview)
            preview.request_token = token
        view.cancel_button.setEnabled(True)
        view.project_button.setEnabled(False)
        view.progress.setRange(0, 0)
        view.progress.show()
        view.status.setText(f"{name}: started")

    def cancel(self) -> None:
        job, self.job = self.job, None
        if job is not None and not job.state.finished:
            job.cancel()
            self.view.status.setText("Cancelled.")
        self._job_ended()

    def _job_ended(self) -> None:
        view = self.view
        view.cancel_button.setEnabled(False)
        view.project_button.setEnabled(True)
        view.progress.hide()

    def _on_job_status(self, text: str, token: int) -> None:
        if self.job is not None and self.job.id == token:
            self.view.status.setText(text)

    def _on_job_progress(self, done: float, total, token: int) -> None:
        if self.job is not None and self.job.id == token and total:
            self.view.progress.setRange(0, 1000)
            self.view.progress.setValue(int(1000 * done / total))

    def _on_partial_layout(self, partial, token: int) -> None:
        if self.job is None or self.job.id != token:
            return  # a stale job's layout
        view = self.view
        context = view._contexts.get(view.state.source_run)
        if context is None:
            return  # labels not loaded yet: the next partial will show
        if view.layout_a is not None and view.layout_a.stage == "layout" \
                and partial.stage == "preview":
            return  # UMAP already overtook the preview
        layout = Layout(partial.coords, partial.sample_index, context, None,
                        partial.method or view.state.method, view.state.layer or "",
                        stage=partial.stage, done=partial.done, total=partial.total)
        view._show_layout(layout, fit=False)

    def _on_project_done(self, job) -> None:
        if self.job is not job:
            return
        self.job = None
        self._job_ended()
        view = self.view
        view.status.setText(f"Stored as {job.result}.")
        view.session.check_catalog()
        view.show_projection(job.result)

    def _on_project_failed(self, job) -> None:
        if self.job is not job:
            return
        self.job = None
        self._job_ended()
        self.view.status.setText(f"Failed: {job.error}")
        from widgets.qt_job_runner import notify_failure

        notify_failure(self.view.session.notify, job)
