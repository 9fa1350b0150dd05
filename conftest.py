# Alembic's env.py and migration scripts only run under Alembic; never import them as tests.
collect_ignore_glob = ["daemon/store/migrations/*"]
