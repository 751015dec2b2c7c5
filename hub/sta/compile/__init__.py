"""Compile parsed ``$filter`` / ``$orderby`` trees into SQLAlchemy Core over an entity's table.

One module per idea: :mod:`.core` (conditions, navigation, dispatch), :mod:`.operand` (the
values passed around), :mod:`.numbers`, :mod:`.strings`, :mod:`.temporal`, :mod:`.spatial` and
:mod:`.results` (``Observation/result``, stored over a float and a JSON column).
:mod:`hub.sta.compiler` re-exports the entry points under their historical names.
"""

from __future__ import annotations

from hub.sta.compile.core import compile_filter, compile_orderby, node_text
from hub.sta.compile.operand import CompileError

__all__ = ["CompileError", "compile_filter", "compile_orderby", "node_text"]
