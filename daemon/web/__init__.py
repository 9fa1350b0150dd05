"""The web pages the daemon serves: the incident list and the incident workspace (no build step)."""
