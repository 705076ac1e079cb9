"""Fake providers on real 127.0.0.1 sockets, scriptable per API key, for any test package."""
