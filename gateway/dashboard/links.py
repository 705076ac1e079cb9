"""Where the Prefect UI is, for links to flow runs: PREFECT_UI_URL, else the UI that
serves PREFECT_API_URL (Prefect's server serves both, the API under /api)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit


def prefect_ui_url(environ: Mapping[str, str]) -> str:
    """The UI's base URL without a trailing slash; empty when neither variable names one."""
    ui = environ.get("PREFECT_UI_URL", "").strip().rstrip("/")
    if ui:
        return ui if _http(ui) else ""
    api = environ.get("PREFECT_API_URL", "").strip().rstrip("/")
    if not _http(api):
        return ""
    return api.removesuffix("/api")


def _http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and url.isprintable()
