"""whatchanged's service: the rooms around the pure ``detectors`` and ``correlators`` packages.

``core`` (the engine, events, the one policy builder), ``runtime`` (the running daemon), the
adapters at the edge (``sources``, ``notify``, ``store``, ``api`` and ``web``), ``workspace``,
``cluster``, ``config`` (models and the composition root), ``cli`` and ``demo``. What each room
may import is in its own ``__init__`` and in docs/architecture.md; tests/test_architecture.py
enforces the rules that matter (no import cycles, no class over 300 lines).
"""
