"""Where events come from: Prometheus, Kubernetes, probes, Alertmanager and change webhooks' parsers,
and scenario folders for replay.

A live source is a :class:`daemon.sources.base.Source` (an async iterator of core events that
reconnects inside and reports its health in a ``SourceStatus``); :mod:`daemon.sources.factory`
builds the configured ones. Sources may import the core (events, input validation) and the config
models; never the runtime, the API or the CLI.
"""
