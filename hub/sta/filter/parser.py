"""Recursive-descent parser for STA 1.1 `$filter` and `$orderby` expressions.

Grammar and precedence, tightest first:

1. grouping `( )`, function calls, literals, property paths
2. unary minus `-x`
3. `mul`, `div`, `mod`
4. `add`, `sub`
5. `gt`, `ge`, `lt`, `le`
6. `eq`, `ne`
7. `not`
8. `and`
9. `or`

All binary operators are left-associative. `not` binds looser than the comparisons, as in
FROST-Server and SQL, so `not a eq 1` is `not (a eq 1)`; under a literal reading of the
OData table it would be `(not a) eq 1`, which is a type error nobody means. Keywords
(`eq`, `and`, `not`, `asc`, `true`, ...) and function names are lower-case and
case-sensitive as in OData; property names are case-sensitive.

Limits (reliability.md §2.4) are enforced while parsing, so hostile input fails fast:
`max_length` characters (checked before lexing), `max_depth` nesting levels (a run of the
same `and`/`or` counts once, see ast.depth) and `max_nodes` AST nodes. Nesting is
counted as the parser descends, so 10,000 parentheses fail at level `max_depth + 1`
and never reach Python's recursion limit.
"""

from __future__ import annotations

from hub.sta.filter.ast import (
    BINARY_PRECEDENCE,
    PREC_NOT,
    PREC_OR,
    Arithmetic,
    ArithmeticOp,
    Call,
    Compare,
    CompareOp,
    Logical,
    LogicalOp,
    Negate,
    Node,
    Not,
    OrderBy,
    Property,
    depth,
)
from hub.sta.filter.errors import FilterError, FilterLimitError, fragment
from hub.sta.filter.functions import check_call, lookup
from hub.sta.filter.lexer import Token, TokenKind, tokenize

DEFAULT_MAX_LENGTH = 8192
DEFAULT_MAX_DEPTH = 50
DEFAULT_MAX_NODES = 1000
# Each nesting level costs a few Python frames; above this ceiling a deep input could
# reach the interpreter's recursion limit, so larger max_depth values are refused.
MAX_DEPTH_CEILING = 100

_RESERVED = frozenset({*BINARY_PRECEDENCE, "not"})
_ORDER_WORDS = frozenset({"asc", "desc"})


def parse_filter(
    text: str,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> Node:
    """Parse a `$filter` expression into an AST.

    Raises FilterError on a syntax error, an unknown function or a bad literal, and
    FilterLimitError when a limit is exceeded. Never raises anything else for any text.
    """
    parser = _Parser(text, max_length, max_depth, max_nodes)
    node = parser.expression(PREC_OR)
    parser.expect_end("an operator")
    parser.check_depth(node, 0)
    return node


def parse_orderby(
    text: str,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> tuple[OrderBy, ...]:
    """Parse `$orderby`: comma-separated expressions, each optionally followed by `asc`
    or `desc`. Limits apply to the whole list (nodes summed over all items)."""
    parser = _Parser(text, max_length, max_depth, max_nodes)
    items: list[OrderBy] = []
    while True:
        start = parser.peek.pos
        expr = parser.expression(PREC_OR)
        parser.check_depth(expr, start)
        descending = False
        word = parser.peek.word
        # Any case: FROST's own Python client sends 'DESC', and FROST-Server accepts it.
        if word is not None and word.lower() in _ORDER_WORDS:
            descending = word.lower() == "desc"
            parser.advance()
        items.append(OrderBy(expr, descending))
        if parser.peek.kind is not TokenKind.COMMA:
            break
        parser.advance()
    parser.expect_end("',', 'asc', 'desc' or an operator")
    return tuple(items)


class _Parser:
    """Parser state: the token list, a cursor and the running depth and node counts."""

    def __init__(self, text: str, max_length: int, max_depth: int, max_nodes: int) -> None:
        if max_depth > MAX_DEPTH_CEILING:
            raise ValueError(f"max_depth above {MAX_DEPTH_CEILING} is not supported")
        if len(text) > max_length:
            raise FilterLimitError(
                f"expression is {len(text)} characters long; the limit is {max_length}"
                f" (at position {max_length})",
                max_length,
            )
        self.tokens = tokenize(text)
        self.index = 0
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.level = 0
        self.nodes = 0
        if self.peek.kind is TokenKind.END:
            raise FilterError("empty expression at position 0", 0)

    @property
    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not TokenKind.END:
            self.index += 1
        return token

    def count(self, token: Token) -> None:
        """Account for one new AST node created at `token`."""
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise FilterLimitError(
                f"expression has more than {self.max_nodes} nodes (at position {token.pos})",
                token.pos,
            )

    def enter(self, token: Token) -> None:
        """Descend one nesting level at `token` (parenthesis, call, not, minus)."""
        self.level += 1
        if self.level > self.max_depth:
            raise FilterLimitError(
                f"expression is nested more than {self.max_depth} levels deep"
                f" (at position {token.pos})",
                token.pos,
            )

    def check_depth(self, node: Node, position: int) -> None:
        # Operator chains (`a add b add c ...`) deepen the tree without nesting in the
        # text, so the finished tree is measured as well.
        if depth(node) > self.max_depth:
            raise FilterLimitError(
                f"expression is nested more than {self.max_depth} levels deep"
                f" (at position {position})",
                position,
            )

    def error(self, expected: str, token: Token | None = None) -> FilterError:
        token = token or self.peek
        return FilterError(
            f"expected {expected} at position {token.pos}, {_found(token)}", token.pos
        )

    def expect(self, kind: TokenKind) -> Token:
        if self.peek.kind is not kind:
            raise self.error(kind.value)
        return self.advance()

    def expect_end(self, expected: str) -> None:
        token = self.peek
        if token.kind is TokenKind.END:
            return
        word = token.word
        if word is not None and word.lower() in _RESERVED | _ORDER_WORDS:
            raise FilterError(
                f"unknown operator {fragment(word)} at position {token.pos}"
                f" (keywords are lower-case: {word.lower()!r})",
                token.pos,
            )
        raise self.error(f"{expected} or end of expression")

    def expression(self, min_prec: int) -> Node:
        """Parse an expression whose binary operators bind at least as tight as min_prec."""
        left = self.prefix(min_prec)
        while True:
            token = self.peek
            prec = BINARY_PRECEDENCE.get(token.word or "")
            if prec is None or prec < min_prec:
                return left
            op = token.word
            assert op is not None
            self.advance()
            # The right operand nests one level deeper (as it does in the tree), which
            # also bounds the Python frames used per level of the text.
            self.enter(token)
            right = self.expression(prec + 1)
            self.level -= 1
            self.count(token)
            left = _binary(op, left, right)

    def prefix(self, min_prec: int) -> Node:
        token = self.peek
        if token.word != "not":
            return self.unary()
        if min_prec > PREC_NOT:
            raise FilterError(
                f"'not' at position {token.pos} must be in parentheses here, e.g. 'a eq (not b)'",
                token.pos,
            )
        self.advance()
        self.enter(token)
        operand = self.expression(PREC_NOT)
        self.level -= 1
        self.count(token)
        return Not(operand)

    def unary(self) -> Node:
        token = self.peek
        if token.kind is not TokenKind.MINUS:
            return self.primary()
        self.advance()
        self.enter(token)
        operand = self.unary()
        self.level -= 1
        self.count(token)
        return Negate(operand)

    def primary(self) -> Node:
        token = self.advance()
        match token.kind:
            case TokenKind.LITERAL:
                assert token.literal is not None
                self.count(token)
                return token.literal
            case TokenKind.LPAREN:
                self.enter(token)
                inner = self.expression(PREC_OR)
                self.expect(TokenKind.RPAREN)
                self.level -= 1
                return inner
            case TokenKind.IDENT:
                if self.peek.kind is TokenKind.LPAREN:
                    return self.call(token)
                if token.word in _RESERVED:
                    raise self.error("an expression", token)
                self.count(token)
                return Property(token.segments)
            case _:
                raise self.error("an expression", token)

    def call(self, name: Token) -> Node:
        if name.word is None:
            raise FilterError(
                f"unknown function {fragment('/'.join(name.segments))} at position {name.pos}"
                " (lambda operators such as any() are not supported)",
                name.pos,
            )
        spec = lookup(name.word, name.pos)
        open_paren = self.advance()
        self.enter(open_paren)
        args: list[Node] = []
        positions = [name.pos]
        if self.peek.kind is not TokenKind.RPAREN:
            while True:
                positions.append(self.peek.pos)
                args.append(self.expression(PREC_OR))
                if self.peek.kind is not TokenKind.COMMA:
                    break
                self.advance()
        if self.peek.kind is not TokenKind.RPAREN:
            raise self.error("',' or ')'")
        self.advance()
        self.level -= 1
        check_call(spec, tuple(args), tuple(positions))
        self.count(name)
        return Call(spec.name, tuple(args))


def _binary(op: str, left: Node, right: Node) -> Node:
    if op in ("and", "or"):
        return Logical(LogicalOp(op), left, right)
    if op in ("add", "sub", "mul", "div", "mod"):
        return Arithmetic(ArithmeticOp(op), left, right)
    return Compare(CompareOp(op), left, right)


def _found(token: Token) -> str:
    if token.kind is TokenKind.END:
        return "found end of expression"
    if token.kind is TokenKind.IDENT:
        return f"found {fragment('/'.join(token.segments))}"
    if token.kind is TokenKind.LITERAL:
        return "found a literal"
    return f"found {token.kind.value}"
