"""Authentication: bearer token in, ``Principal`` out. Nothing else lives here."""

from gateway.auth.principal import Principal

__all__ = ["Principal"]
