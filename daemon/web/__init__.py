"""The web pages the daemon serves: the incident list and the incident workspace (no build step).

Pages read the daemon through :class:`daemon.api.backend.Backend`, like the API; they may import
the API's auth and backend, the workspace and the renderers of ``notify``.
"""
