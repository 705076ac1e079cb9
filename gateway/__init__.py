"""The traffic plane: the ASGI app that serves a team's endpoints."""
