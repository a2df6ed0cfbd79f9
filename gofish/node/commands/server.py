"""Server commands (placeholder until written): INFO CONFIG CLIENT COMMAND TIME."""

from __future__ import annotations

from gofish.statemachine.registry import CommandTable


def register(table: CommandTable) -> None:
    """Register the server commands."""
