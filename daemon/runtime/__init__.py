"""The running daemon: its lifecycle, the analysis loop, and the persistence of what the core decides.

Here the core meets I/O: :class:`~daemon.runtime.daemon.Daemon` wires admission, intake, the
analysis loop, the output writer and page planner, the restorer, health, and a single-node or
clustered mode, and runs their tasks (sources, analysis, outbox, checkpoints); the backtest
(history from Prometheus through the core) lives here too. The runtime may import the core, the
adapters (store, notify, sources, cluster), the workspace, telemetry and the config models; it
never imports the HTTP API, the CLI or the composition root: the composition root hands it the
HTTP app, and the API sees it only through the protocols of :mod:`daemon.core.ports`.
"""
