"""The HTTP API (JSON): health, readiness, metrics, incidents, changes, feedback, webhooks, the workspace.

Handlers reach the running daemon only through :class:`daemon.api.backend.Backend` (the small
protocols of :mod:`daemon.core.ports` plus the store and the workspace), never the runtime's
classes. The API may import the core, the store, the workspace, the renderers of ``notify`` and
the sources' webhook parsers; the composition root builds the app (:func:`daemon.api.app.create_app`).
"""
