"""Argument types shared by the commands (validated by argparse, so a bad value is one clear line)."""

from __future__ import annotations

import argparse

__all__ = ["listen_address"]


def listen_address(value: str) -> str:
    from ..config import Config as _C  # pydantic loads when an address is given, not for --help
    try:
        _C._listen(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value
