"""Help and usage written the way click, pytest and uv write theirs.

Typer's own help shows a type metavar even on flags (`--json <bool>`), braces around required
arguments in the usage line (`{problem}`), descriptive defaults in parentheses next to literal
ones, and keeps the hard line breaks of a docstring's later paragraphs. Every command and group
of `kernel-agent` is made by `App`, whose classes give instead: flags without a metavar, upper-case
argument names (`Usage: kernel-agent check [OPTIONS] PROBLEM CANDIDATE`), `[default: X]` for every
default, and paragraphs that flow to the terminal's width.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

# The choices a person picks from, listed in `--help` (tests/agent/test_cli_style.py keeps them
# equal to the registries they name).
SandboxName = Literal["local", "docker"]  # kernel_agent.sandbox.BACKENDS
BackendName = Literal["triton", "cuda"]  # kernel_agent.tools.problem.BACKENDS
# Profile names are too long a list for the type column: the help names them.
PROFILE_HELP = "model profile: nim-r1, deepseek, openai or local"  # agent.models.PROFILES


class Option(TyperOption):
    """An option whose described default reads like a literal one: `[default: 15m]`."""

    def _get_default_string(self, *, ctx: Any, show_default_is_str: bool,
                            default_value: Any) -> str:
        if show_default_is_str:
            return str(self.show_default)
        return super()._get_default_string(ctx=ctx, show_default_is_str=False,
                                           default_value=default_value)


def flowed(text: str | None) -> str | None:
    """Docstring paragraphs as single lines, so the terminal wraps them (a paragraph that starts
    with click's no-rewrap marker \\b keeps its lines)."""
    if not text:
        return text
    first, *rest = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join([first, *(p.removeprefix("\b\n") if p.startswith("\b") else
                                  " ".join(p.split("\n")) for p in rest)])


def conventional(params: list[Any]) -> None:
    """Flags lose their metavar, arguments are named in upper case, options use `Option`.

    Typer makes its parameter objects itself and has no hook for their class, so the class of
    each option is set here (`Option` adds one method and no state)."""
    for param in params:
        if isinstance(param, TyperOption):
            if type(param) is TyperOption:
                param.__class__ = Option
            if param.is_flag:
                param.metavar = ""
        elif isinstance(param, TyperArgument) and param.metavar is None:
            param.metavar = (param.name or "").upper()


def usage_pieces(command: Any, ctx: Any) -> list[str]:
    """`[OPTIONS] PROBLEM [CANDIDATE] FILES...`: click's usage line for arguments."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            name = param.display_name_raw + ("..." if param.nargs != 1 else "")
            pieces.append(name if param.required else f"[{name}]")
        else:
            pieces.extend(param.get_usage_pieces(ctx))
    return pieces


def help_option(option: TyperOption | None) -> TyperOption | None:
    if option is not None:
        option.metavar = ""
    return option


class Command(TyperCommand):
    """A command with conventional help (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = flowed(self.help)
        conventional(self.params)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return usage_pieces(self, ctx)

    def get_help_option(self, ctx: Any) -> TyperOption | None:
        return help_option(super().get_help_option(ctx))


class Group(TyperGroup):
    """A group with conventional help (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = flowed(self.help)
        conventional(self.params)

    def get_help_option(self, ctx: Any) -> TyperOption | None:
        return help_option(super().get_help_option(ctx))


class App(typer.Typer):
    """`typer.Typer` whose groups are `Group` and whose commands are `Command` by default."""

    def __init__(self, *, cls: type[TyperGroup] = Group, **kwargs: Any) -> None:
        super().__init__(cls=cls, **kwargs)

    def command(self, *args: Any, cls: type[TyperCommand] = Command, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls, **kwargs)
