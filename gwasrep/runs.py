"""The runner convention shared by every command.

Each ``gwasrep <command>`` calls exactly one library function, ``run_<command>(config)``
(long runs also take ``progress=``), in the ``run`` module of its subpackage
(``gwasrep.assoc.run.run_assoc``, ``gwasrep.loci.run.run_clump``, ...). The config is a
dataclass holding the command's inputs, outputs and settings; the return value is a
:class:`RunResult` subclass naming the files written and the notes worth telling the
user. Long runs report through one :class:`Progress` callback signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = ["Progress", "RunResult"]


class Progress(Protocol):
    """``progress(done, total, stage, **info)``: called as a long run advances.

    ``stage`` names what is counted ("kinship", "null model", "ridge level 0" (blocks),
    "ridge level 1" (traits), "scanning", "LD scores",
    "training", "images", "epoch", "epochs"); ``done`` of ``total`` units are finished.
    ``info`` holds display fields of the stage (numbers such as ``loss`` or
    ``samples_per_s``), and ``message``, a line worth logging once (the end of an epoch).
    """

    def __call__(self, done: int, total: int, stage: str, **info) -> None: ...


@dataclass(kw_only=True)
class RunResult:
    """What every runner returns; subclasses add the command's own figures."""

    #: Paths of the files written, by kind.
    files: dict[str, Path] = field(default_factory=dict)
    #: Lines worth telling the user (sample drops, encodings, resumed work, ...).
    notes: list[str] = field(default_factory=list)
    #: Warnings raised during the run (the CLI prints them on stderr).
    warnings: list[str] = field(default_factory=list)
