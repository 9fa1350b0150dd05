"""What every config model shares: forbidden extra keys, frozen values; and the error naming the field."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["ConfigError", "ConfigModel"]


class ConfigError(Exception):
    """A config that cannot be used: names the file and the field."""

    def __init__(self, path: str, field: str, message: str) -> None:
        where = f"{path}: {field}" if field else path
        super().__init__(f"{where}: {message}")
        self.path, self.field, self.message = path, field, message


class ConfigModel(BaseModel):
    """A config section: unknown keys are errors (a typo never passes silently), values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
