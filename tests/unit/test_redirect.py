"""crash's shell pipes and redirection beside kmemx's object pipes:
:func:`kmemx.commands.pipeline.split_command_line`'s one rule."""

from __future__ import annotations

import pytest

from kmemx.commands import UsageError, split_command_line

COMMANDS = {"ps", "filter", "task", "head", "count", "log", "bt"}


def split(line: str) -> tuple[list[str], str | None, tuple[str, bool] | None]:
    cl = split_command_line(line, COMMANDS.__contains__)
    return [s.strip() for s in cl.stages], cl.shell, cl.redirect


@pytest.mark.parametrize("line, stages, shell, redirect", [
    # a word after | that is no kmemx command starts the shell, which takes the rest
    ("ps | grep kmx | wc -l", ["ps"], "grep kmx | wc -l", None),
    # kmemx commands after | get objects; > FILE at the end writes the text
    ("ps | filter pid>3 | task > /tmp/x", ["ps", "filter pid>3", "task"], None,
     ("/tmp/x", False)),
    ("ps >> 'a b'", ["ps"], None, ("a b", True)),
    ("ps >out", ["ps"], None, ("out", False)),
    # ! forces the shell, even for a name kmemx has (head)
    ("ps ! head -3", ["ps"], "head -3", None),
    ("ps | head 3 | grep x > y", ["ps", "head 3"], "grep x > y", None),
    # operators inside a word, and quoted text, are no pipes or redirections
    ("ps | filter comm!=init", ["ps", "filter comm!=init"], None, None),
    ("ps | filter comm!~^k", ["ps", "filter comm!~^k"], None, None),
    ("ps | filter 'pid > 3'", ["ps", "filter 'pid > 3'"], None, None),
    ("log | grep -i 'a|b'", ["log"], "grep -i 'a|b'", None),
    ('bt -a | grep "x\\" |"', ["bt -a"], 'grep "x\\" |"', None),
])
def test_split(line: str, stages: list[str], shell: str | None,
               redirect: tuple[str, bool] | None) -> None:
    assert split(line) == (stages, shell, redirect)


@pytest.mark.parametrize("line, message", [
    ("ps > ", "'>' without a file name"),
    ("ps > a b", "'>' takes one file name"),
    ("ps | grep 'x", "unterminated quote"),
])
def test_split_errors(line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        split(line)
