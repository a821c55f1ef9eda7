"""Items as output events (the ADR-100 envelope's ``event`` and ``fields``).

Each output item type renders itself (``event(now, decimals)``, see ``nodes/items.py``) and is
registered by ``@output_item``; sinks take ``OUTPUT_ITEMS`` and call ``item_event``.
"""

from __future__ import annotations

from typing import Any

from .items import OUTPUT_ITEMS as _REGISTERED

__all__ = ["OUTPUT_ITEMS", "item_event"]

#: The item types that render as events, as registered (a tuple for ``takes=``).
OUTPUT_ITEMS: tuple[type, ...] = tuple(_REGISTERED)


def item_event(item: Any, now: float, decimals: int = 4) -> tuple[str, dict[str, Any]]:
    """``(event name, fields)`` for an output item; ``now`` is the processing clock."""
    render = getattr(item, "event", None)
    if render is None:
        raise TypeError(f"no output event for {type(item).__name__}")
    result: tuple[str, dict[str, Any]] = render(now, decimals)
    return result
