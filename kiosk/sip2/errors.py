"""The codec's single error type (and its checksum special case)."""

from __future__ import annotations


class Sip2Error(Exception):
    """Anything wrong with a SIP2 message, incoming or outgoing. `str()` is a plain sentence."""


class ChecksumError(Sip2Error):
    """The message carried a checksum and it was wrong: ask the peer to send it again."""
