"""The one rejection type of every decoder: "this input is malformed (or not for us): reason +
detail".

``Rejected`` is raised by the field readers of the recording, datagram and sensing-update
decoders and, as a value, stands in the decoders' results for an input that gave no item (a
recording line, a datagram, a server update). Nodes count it as a drop under ``reason`` (a short
snake_case word) with ``detail`` for the warning. Two rejections are equal when their reason
and detail are.
"""

from __future__ import annotations

__all__ = ["Rejected"]


class Rejected(ValueError):
    """An input that gives no item, and why (``reason``: snake_case; ``detail``: for people)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rejected):
            return NotImplemented
        return (self.reason, self.detail) == (other.reason, other.detail)

    def __hash__(self) -> int:
        return hash((self.reason, self.detail))

    def __repr__(self) -> str:
        return f"Rejected({self.reason!r}, {self.detail!r})"
