"""The ``$filter``/``$orderby`` compiler's entry points (implemented in :mod:`hub.sta.compile`).

``compile_filter(node, entity)`` gives the WHERE condition over ``entity``'s base table,
``compile_orderby(items, entity)`` the ORDER BY terms; both raise :class:`CompileError` with a
``status`` of 400 (refused) or 501 (not implemented) and a one-line ``message``.
"""

from __future__ import annotations

from hub.sta.compile import CompileError, compile_filter, compile_orderby, node_text

__all__ = ["CompileError", "compile_filter", "compile_orderby", "node_text"]
