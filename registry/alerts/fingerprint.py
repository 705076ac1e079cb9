"""An alert's identity: Alertmanager's fingerprint of its labels (never its annotations).

FNV-1a 64 over the labels sorted by name, each written as `name 0xFF value 0xFF`, shown as
16 hex digits (prometheus/common model/signature.go, LabelsToSignature).
"""

from __future__ import annotations

from collections.abc import Mapping

_OFFSET = 14_695_981_039_346_656_037
_PRIME = 1_099_511_628_211
_MASK = (1 << 64) - 1
_SEPARATOR = b"\xff"


def signature(labels: Mapping[str, str]) -> int:
    value = _OFFSET
    for name in sorted(labels):
        for byte in name.encode() + _SEPARATOR + labels[name].encode() + _SEPARATOR:
            value = ((value ^ byte) * _PRIME) & _MASK
    return value


def fingerprint(labels: Mapping[str, str]) -> str:
    return f"{signature(labels):016x}"
