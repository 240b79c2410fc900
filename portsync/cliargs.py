"""Global options anywhere on the command line: ``portsync plan -c x.yaml`` = ``portsync -c x.yaml plan``.

click only parses a group's options before the subcommand's name. People type them where habit puts
them (``kubectl get pods -n x``, ``terraform plan -no-color``), so the command line is rewritten
before click sees it: every global option found after the subcommand is moved in front of it, with
its value. The subcommand's own options are read from its definition, so the value of one of them
(``--out -q.json``) is never taken for a global option, and nothing after ``--`` is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["hoist_global_options"]


def _option_table(params: Sequence[Any]) -> dict[str, bool]:
    """Option name → whether it takes a value, for click parameters."""
    table: dict[str, bool] = {}
    for param in params:
        if getattr(param, "param_type_name", "") != "option":
            continue
        takes_value = not (getattr(param, "is_flag", False) or getattr(param, "count", False))
        for name in (*param.opts, *param.secondary_opts):
            table[name] = takes_value
    return table


def _match(token: str, table: dict[str, bool]) -> tuple[str, bool] | None:
    """The option ``token`` spells (``--config``, ``--config=x``, ``-c``, ``-cx``), if any."""
    if token in table:
        return token, table[token]
    if token.startswith("--") and "=" in token:
        name = token.split("=", 1)[0]
        if name in table:
            return name, False  # the value is inside the token
    elif token.startswith("-") and not token.startswith("--") and len(token) > 2:
        name = token[:2]
        if table.get(name):
            return name, False  # -cx: the value is glued on
    return None


def hoist_global_options(group: Any, ctx: Any, args: list[str]) -> list[str]:
    """``args`` with the group's options that follow a subcommand moved before it.

    Args:
        group: the click group whose options are global.
        ctx: the group's click context (to resolve subcommands).
        args: the command line after the program name.

    Returns:
        The rewritten command line (``args`` itself when nothing needs moving).

    Raises:
        Nothing: anything it does not understand is left where it is, for click to report.
    """
    global_opts = _option_table(group.params)
    hoisted: list[str] = []
    head: list[str] = []
    path_start = 0
    i = 0
    # The group's own options and the command path (``catalog show``) stay as they are.
    command: Any = group
    while i < len(args):
        token = args[i]
        if token == "--":
            return args
        found = _match(token, _option_table(command.params))
        if found is not None:
            head.append(token)
            if found[1] and i + 1 < len(args):
                head.append(args[i + 1])
                i += 1
            i += 1
            continue
        if token.startswith("-"):
            return args  # unknown before the command: click's error, not ours
        sub = command.get_command(ctx, token) if hasattr(command, "get_command") else None
        if sub is None:
            return args
        if command is group:
            path_start = len(head)
        head.append(token)
        command = sub
        i += 1
        if not hasattr(sub, "get_command"):
            break
    if command is group or hasattr(command, "get_command"):
        return args
    own = _option_table(command.params)
    tail: list[str] = []
    while i < len(args):
        token = args[i]
        if token == "--":
            tail.extend(args[i:])
            break
        mine = _match(token, own)
        if mine is not None:
            tail.append(token)
            if mine[1] and i + 1 < len(args):
                tail.append(args[i + 1])
                i += 1
            i += 1
            continue
        theirs = _match(token, global_opts)
        if theirs is not None:
            hoisted.append(token)
            if theirs[1] and i + 1 < len(args):
                hoisted.append(args[i + 1])
                i += 1
            i += 1
            continue
        tail.append(token)
        i += 1
    if not hoisted:
        return args
    # The group's options go right after the program name, before the command path.
    return [*head[:path_start], *hoisted, *head[path_start:], *tail]
