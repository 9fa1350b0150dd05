"""The running daemon: its lifecycle, the analysis loop, and the persistence of what the core decides.

Here the core meets I/O: the daemon's tasks (sources, analysis, outbox, checkpoints), the
restore from checkpoints, the plan of pages written with their incidents, readiness and
gauges, metrics and log set-up, and the backtest (history from Prometheus through the core).
The runtime may import the core, the adapters (store, notify, sources, cluster) and the
workspace; it never imports the HTTP API, the CLI or the composition root: the API is handed
to it, and it hands small protocols (``daemon.runtime.ports``) to the API.
"""
