"""The daemon's own telemetry: its Prometheus metrics (a registry per daemon), log set-up, and the
redaction of secrets from every log line.

Imports nothing of the daemon, so that every room (config, notify, runtime, API) may use it.
Nothing is registered at import: the metrics and the secrets to redact are registered by whoever
creates the daemon or resolves a secret.
"""
