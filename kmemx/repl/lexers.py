"""Syntax highlighting: pygments lexers for ``%`` command lines and for output,
and the prompt_toolkit lexer that picks Python or command syntax per input.

:class:`CommandLexer` colours ``%ps -k | filter comm~kworker ! grep x``:
command words, options, numbers, strings, pipes and the shell part.
:class:`OutputLexer` colours what commands and expressions print: drgn's
C-style struct dumps (``(struct list_head *)0xffff...``, ``.member =``),
hex addresses, numbers, strings, table headers and ``kmemx:`` messages.
"""

from __future__ import annotations

from typing import Any, Callable

from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer, PygmentsLexer
from pygments.lexer import RegexLexer, bygroups  # type: ignore[import-untyped,unused-ignore]
from pygments.lexers.python import PythonLexer  # type: ignore[import-untyped,unused-ignore]
from pygments.token import (  # type: ignore[import-untyped,unused-ignore]
    Comment,
    Error,
    Generic,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

__all__ = ["CommandLexer", "OutputLexer", "ReplLexer"]

_WORD = r"[\w.@:/+-]+"


class CommandLexer(RegexLexer):  # type: ignore[misc,unused-ignore]
    """``%cmd args | cmd2 args ! shell``."""

    name = "kmemx command"
    aliases = ["kmemx-command"]
    filenames: list[str] = []

    tokens = {
        "root": [
            (r"(\s*)(%)(" + _WORD + ")?", bygroups(Whitespace, Operator, Keyword), "args"),
            (r".+", Text),
        ],
        "args": [
            (r"(\|)(\s*)(" + _WORD + ")?", bygroups(Operator, Whitespace, Keyword)),
            (r"(!)(.*)", bygroups(Operator, String.Backtick)),
            (r"\s+", Whitespace),
            (r"--?[A-Za-z][\w-]*(?==)", Name.Attribute),
            (r"--?[A-Za-z][\w-]*", Name.Attribute),
            (r"0[xX][0-9a-fA-F]+\b", Number.Hex),
            (r"-?\d+\b", Number.Integer),
            (r"'[^']*'?", String.Single),
            (r'"(?:\\.|[^"\\])*"?', String.Double),
            (r"(==|!=|<=|>=|!~|[<>~=])", Operator),
            (r"\b(struct|union|enum)\b", Keyword.Type),
            (r"#.*$", Comment),
            (r"[^\s|!'\"=<>~]+", Name),
        ],
    }


# a C cast as drgn prints one: "(struct list_head *)0x...", "(u64)0", "(char [16])"..."
# (followed directly by the value, which keeps "(most recent call last):" out)
_CAST = (r"\((?:const |volatile )*(?:struct |union |enum )?[A-Za-z_][\w ]*?(?: ?\*+)?"
         r"(?: ?\[\d*\])*\)(?=[\w\"'{<*(&-])")


class OutputLexer(RegexLexer):  # type: ignore[misc,unused-ignore]
    """drgn struct dumps, addresses, tables and kmemx messages (line by line)."""

    name = "kmemx output"
    aliases = ["kmemx-output"]
    filenames: list[str] = []

    tokens = {
        "root": [
            (r"^kmemx: (?:error|warning):.*$", Generic.Error),
            (r"^[A-Z][A-Z0-9_%/()#-]*(?:[ \t]+[A-Z][A-Z0-9_%/()#-]*)+[ \t]*$", Generic.Heading),
            (r"^( ?#\d+)(\s+)", bygroups(Generic.Subheading, Whitespace)),
            (r"\*?" + _CAST, Keyword.Type),
            (r"(\.)([A-Za-z_]\w*)(\s*=)", bygroups(Punctuation, Name.Attribute, Operator)),
            (r"\b0x[0-9a-fA-F]+\b", Number.Hex),
            (r"\b[0-9a-f]{16}\b", Number.Hex),
            (r"\b-?\d+(?:\.\d+)?\b", Number),
            (r'"(?:\\.|[^"\\])*"', String),
            (r"'(?:\\.|[^'\\])*'", String),
            (r"\((?:[\w./-]+):\d+(?::\d+)?\)", Comment),
            (r"\b(?:true|false|NULL|None|True|False)\b", Keyword.Constant),
            (r"(?:error|Error|FaultError)\b.*$", Error),
            (r"[{}\[\],=]", Punctuation),
            (r"\s+", Whitespace),
            (r"[A-Za-z_]\w*", Text),
            (r".", Text),
        ],
    }


class ReplLexer(Lexer):
    """Python for code, :class:`CommandLexer` when the input starts with ``%``."""

    def __init__(self) -> None:
        self.python = PygmentsLexer(PythonLexer)
        self.command = PygmentsLexer(CommandLexer)

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        if document.text.lstrip().startswith("%"):
            return self.command.lex_document(document)
        return self.python.lex_document(document)

    def invalidation_hash(self) -> Any:
        return id(self)
