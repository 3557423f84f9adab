"""Helpers for testing code that uses pipeimap: a private Dovecot server on loopback."""

from __future__ import annotations

from .dovecot import DovecotNotInstalledError, DovecotServer, DovecotStartError, find_dovecot

__all__ = ["DovecotNotInstalledError", "DovecotServer", "DovecotStartError", "find_dovecot"]
