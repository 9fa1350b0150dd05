"""The core loop: events in, decisions out, on event time and without I/O.

The engine (detect, group, rank, decide pages), the event types, the reorder buffer, the
series buffer, the intake guards (validation of what enters, admission limits), the one policy
builder (:func:`daemon.core.policy.policy`) and the replay loop live here. The core may import
``detectors``, ``correlators`` and other core modules, and the config models for typing only;
it never imports the runtime, the adapters at the edge, the CLI or the composition root, and
never reads the wall clock or the environment.
"""
