"""What every command shares: options defined once, error handling, progress bars, printing.

A command module declares its options with the ``Annotated`` aliases below (``Bed``,
``Quiet``, ...), builds its library config, calls one runner inside :func:`progress_bar`
and prints a short summary. Library imports happen inside the commands, so that
``gwasrep --help`` loads neither pandas nor torch.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from gwasrep.errors import GwasrepError

err = Console(stderr=True)
out = Console()

# --------------------------------------------------------------------------------------
# Options used by several commands

Bed = Annotated[Path, typer.Option(help="PLINK 1 fileset prefix (.bed/.bim/.fam)")]
Emb = Annotated[Path, typer.Option(help="Embeddings table (Parquet/TSV/CSV); data_specs/embeddings.md")]
Keep = Annotated[Path | None, typer.Option(help="Use only these samples (FID IID or IID per line)")]
MetaCols = Annotated[str | None, typer.Option(help="Comma-separated embedding columns that are metadata")]
R2Mode = Annotated[str, typer.Option(help="em (haplotype r^2 from EM, PLINK 1.9's) or unphased (squared genotype correlation)")]
Resume = Annotated[bool, typer.Option(help="Continue an unfinished run in --out")]
Seed = Annotated[int, typer.Option(help="Random seed")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or mps")]
ImageIds = Annotated[Path | None, typer.Option(help="Sample IDs of an .npy stack, one per image")]
Quiet = Annotated[bool, typer.Option(help="No progress bar or summary")]
#: For commands without a progress bar.
QuietSummary = Annotated[bool, typer.Option(help="No summary")]


def csv_list(value: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; None or empty -> None."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def float_list(value: str, option: str) -> list[float]:
    """``"0.1,0.5"`` -> ``[0.1, 0.5]``; anything else is an InputError naming ``option``."""
    from gwasrep.errors import InputError

    try:
        return [float(v) for v in csv_list(value) or []]
    except ValueError:
        raise InputError(f"{option} {value}: expected comma-separated numbers") from None


def int_list(value: str, option: str) -> list[int]:
    """``"200,100,50"`` -> ``[200, 100, 50]``; anything else is an InputError naming ``option``."""
    from gwasrep.errors import InputError

    try:
        return [int(v) for v in csv_list(value) or []]
    except ValueError:
        raise InputError(f"{option} {value}: expected comma-separated integers") from None


# --------------------------------------------------------------------------------------
# Errors


def fail(msg: str, code: int = 2):
    """One ``error:`` line on stderr, then exit with ``code``."""
    err.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def cli_errors(fn):
    """Turn library errors into one line and a non-zero exit; no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GwasrepError as exc:
            fail(str(exc))
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            fail(f"{exc.strerror}: {exc.filename}")
        except KeyboardInterrupt:
            fail("interrupted; finished blocks are kept, rerun with --resume to continue", 130)
        except typer.Exit:
            raise
        except Exception as exc:  # a bug, not bad input: one line, traceback on request
            if os.environ.get("GWASREP_DEBUG"):
                raise
            fail(f"internal error ({type(exc).__name__}: {exc}); set GWASREP_DEBUG=1 for the "
                 "traceback and please report it", 1)

    return wrapper


def require_torch() -> None:
    """Fail with the install line when the torch extra is missing."""
    try:
        import torch  # noqa: F401
    except ImportError:
        fail("this command needs PyTorch: pip install 'gwasrep[torch]' (on a CPU-only machine "
             "install the CPU wheel first, e.g. pip install torch==2.13.0)")


# --------------------------------------------------------------------------------------
# Progress: one renderer for the library's one callback signature, progress(done, total,
# stage, **info)

#: What each stage counts, for the rate column.
_UNITS = {"kinship": "variants", "scanning": "variants", "LD scores": "variants",
          "null model": "fits", "images": "images", "training": "epochs", "epoch": "steps",
          "epochs": "epochs", "queries": "samples", "ridge level 0": "blocks",
          "ridge level 1": "traits", "relatives": "row blocks"}


class _RateColumn(ProgressColumn):
    """Units per second of the stage (samples/s when the library reports it)."""

    def render(self, task) -> Text:
        if "samples_per_s" in task.fields:
            return Text(f"{task.fields['samples_per_s']:,.0f} samples/s", style="cyan")
        speed = task.finished_speed or task.speed
        unit = _UNITS.get(task.description.strip(), "items")
        return Text(f"{speed:,.0f} {unit}/s" if speed else "", style="cyan")


def _info_text(info: dict) -> str:
    shown = []
    for key in ("epoch", "loss", "train_loss", "val_loss"):
        if key in info and isinstance(info[key], int | float):
            v = info[key]
            shown.append(f"{key.replace('_', ' ')} {v}" if isinstance(v, int)
                         else f"{key.replace('_', ' ')} {v:.4f}")
    return "  ".join(shown)


@contextlib.contextmanager
def progress_bar(quiet: bool) -> Iterator:
    """A ``progress(done, total, stage, **info)`` callback drawing one bar per stage on
    stderr (None with ``quiet``); the bars stop when the block exits, even on error.

    A stage whose count goes back (a new epoch) restarts its bar; an ``info["message"]``
    is printed once above the bars.
    """
    if quiet:
        yield None
        return
    prog = Progress(TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(),
                    _RateColumn(), TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=err, transient=False)
    tasks: dict[str, int] = {}
    last: dict[str, int] = {}

    def update(done: int, total: int, stage: str, **info):
        message = info.pop("message", None)
        if message:
            prog.console.print(message, highlight=False)
        if stage not in tasks:
            if not tasks:
                prog.start()
            tasks[stage] = prog.add_task(stage, total=total, completed=done, info="")
        elif done < last.get(stage, 0):
            prog.reset(tasks[stage], total=total, completed=done)
        last[stage] = done
        fields = {"info": _info_text(info)}
        if "samples_per_s" in info:
            fields["samples_per_s"] = info["samples_per_s"]
        prog.update(tasks[stage], completed=done, total=total, **fields)

    try:
        yield update
    finally:
        if tasks:
            prog.stop()


# --------------------------------------------------------------------------------------
# Printing


def print_notes(result) -> None:
    """A runner's notes on stdout and its warnings on stderr, one line each."""
    for note in result.notes:
        out.print(f"note: {note}", highlight=False)
    for w in result.warnings:
        err.print(f"warning: {w}", highlight=False)


def print_line(text: str) -> None:
    out.print(text, highlight=False)
