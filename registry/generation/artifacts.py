"""Generated content kept here: files under `MODELOPS_DATA_DIR/artifacts/generation/`, named
by their sha256, so the same output stored twice is one file and a name proves its bytes."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

_SHA256 = re.compile(r"[0-9a-f]{64}")
# Outputs larger than this are refused rather than stored (a 12 s 1792x1024 MP4 is ~30 MB).
MAX_ARTIFACT_BYTES = 512 * 1024 * 1024


class ArtifactStore:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "artifacts" / "generation"

    def scratch(self) -> Path:
        """A fresh path to download into (same filesystem, so keeping it is a rename)."""
        scratch = self.root / "incoming"
        scratch.mkdir(parents=True, exist_ok=True)
        return scratch / f"{uuid.uuid4().hex}.part"

    def keep(self, scratch: Path, sha256: str) -> Path:
        """Move a finished download to its content address (a copy already there wins)."""
        final = self.path(sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            scratch.unlink(missing_ok=True)
        else:
            os.replace(scratch, final)
        return final

    def path(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise ValueError("an artifact is named by a lowercase hex sha256")
        return self.root / sha256[:2] / sha256


__all__ = ["MAX_ARTIFACT_BYTES", "ArtifactStore"]
