"""Secrets of the config: given inline, from an environment variable or from a file; read when the
config loads (so a missing one fails at start, not at 3 AM), and registered for redaction from logs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr, model_validator

from ..telemetry.redact import register
from .base import ConfigError, ConfigModel

if TYPE_CHECKING:
    from .models import Config

__all__ = ["SecretRef", "resolve_secrets", "secret_refs", "unresolved_secrets"]


class SecretRef(ConfigModel):
    """A secret given inline, from an environment variable, or from a file; resolved when the config loads."""

    value: SecretStr | None = None
    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if sum(x is not None for x in (self.value, self.env, self.file)) != 1:
            raise ValueError("give exactly one of value, env or file")
        return self

    def resolve(self) -> SecretStr:
        """The secret; an empty one is an error (it would fail open: an empty token or HMAC key
        matches what anyone can send). Resolved secrets are kept out of logs and errors."""
        secret = self._read()
        if not secret.get_secret_value().strip():
            where = "value" if self.value is not None else f"environment variable {self.env}" \
                if self.env is not None else f"secret file {self.file}"
            raise ValueError(f"the secret is empty ({where}); an empty secret would let anyone in")
        register(secret.get_secret_value())
        return secret

    def _read(self) -> SecretStr:
        if self.value is not None:
            return self.value
        if self.env is not None:
            val = os.environ.get(self.env)
            if val is None:
                raise ValueError(f"environment variable {self.env} is not set")
            return SecretStr(val)
        assert self.file is not None
        try:
            return SecretStr(self.file.read_text(encoding="utf-8").strip())
        except OSError as e:
            raise ValueError(f"cannot read secret file {self.file}: {e.strerror}") from None


def secret_refs(cfg: Config) -> list[tuple[str, SecretRef]]:
    """Every secret of the config with the field it is given in."""
    refs: list[tuple[str, SecretRef]] = []
    if cfg.prometheus and cfg.prometheus.bearer_token:
        refs.append(("prometheus.bearer_token", cfg.prometheus.bearer_token))
    if cfg.prometheus and cfg.prometheus.basic_auth:
        refs.append(("prometheus.basic_auth.password", cfg.prometheus.basic_auth.password))
    for i, n in enumerate(cfg.notifiers):
        for fname in type(n).model_fields:
            secret = getattr(n, fname)
            if isinstance(secret, SecretRef):
                refs.append((f"notifiers.{i}.{fname}", secret))
    for kind in ("read_tokens", "write_tokens"):
        for i, tok in enumerate(getattr(cfg.api, kind)):
            refs.append((f"api.{kind}.{i}", tok))
    for i, ref in enumerate(cfg.webhooks.bearer_tokens):
        refs.append((f"webhooks.bearer_tokens.{i}", ref))
    for i, ref in enumerate(cfg.webhooks.hmac_secrets):
        refs.append((f"webhooks.hmac_secrets.{i}", ref))
    return refs


def unresolved_secrets(cfg: Config) -> list[tuple[str, SecretRef, str]]:
    """``(field, ref, why)`` of every secret that cannot be read here (all of them, not only the first)."""
    out = []
    for field, ref in secret_refs(cfg):
        try:
            ref.resolve()
        except ValueError as e:
            out.append((field, ref, str(e)))
    return out


def resolve_secrets(cfg: Config, path: str) -> None:
    """Fail at start, not at 3 AM, when a secret's variable or file is missing."""
    for field, ref in secret_refs(cfg):
        try:
            ref.resolve()
        except ValueError as e:
            raise ConfigError(path, field, str(e)) from None
