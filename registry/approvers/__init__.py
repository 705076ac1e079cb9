"""Approver identity: enrolled TOTP secrets (RFC 6238) and the codes they accepted once."""
