"""``gwasrep``: the app and its commands, registered here in help order.

Each command lives in the module of its group (``association``, ``loci``, ``heritability``,
``models``, ``explain``, ``simulation``), checks its options, builds its library config, makes one
runner call and prints a short summary (shared options and helpers: ``_common``). Errors
from bad input become one line on stderr and exit status 2.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from gwasrep_cli import association, explain, heritability, loci, models, simulation

COMMANDS = (association.assoc, association.grm,
            loci.clump, loci.loci, loci.panel, loci.meta,
            heritability.ldscore, heritability.h2, heritability.mi,
            models.train, models.embed, explain.explain,
            simulation.demo, simulation.simulate_emnist, simulation.evaluate)
#: Command name (Typer's: the function name with dashes) -> function.
BY_NAME = {fn.__name__.replace("_", "-"): fn for fn in COMMANDS}
HELP = "Genome-wide association studies on learned phenotypes."

app = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP)
for command in COMMANDS:
    app.command()(command)


def _one_command_app(name: str) -> typer.Typer:
    """An app holding only the command ``name``: Typer builds the click parameters of every
    registered command on each call (about 0.1 s for all of them), so ``main`` registers
    only the one on the command line. The callback keeps it a group, as in ``app``, so
    usage lines and errors read ``gwasrep NAME ...`` as before."""
    one = typer.Typer(add_completion=False, no_args_is_help=True, help=HELP)
    one.callback()(_group)
    one.command()(BY_NAME[name])
    return one


def _group() -> None:
    """Genome-wide association studies on learned phenotypes."""


def _bare_flags(argv: list[str]) -> list[str]:
    """Let ``--lmm`` stand alone for ``--lmm auto``.

    Typer (0.26-0.28, with its vendored click) has no option with an optional value, so a
    bare ``--lmm`` (last, or followed by another option) gets its value here.
    """
    out_argv = []
    for i, tok in enumerate(argv):
        out_argv.append(tok)
        if tok == "--lmm" and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            out_argv.append("auto")
    return out_argv


def main() -> None:
    """Parse ``sys.argv`` and run the command; ends with SystemExit (Typer's convention)."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    argv = _bare_flags(sys.argv[1:])
    target = _one_command_app(argv[0]) if argv and argv[0] in BY_NAME else app
    target(args=argv, prog_name="gwasrep")


#: Commands that have finished everything when they return: outputs written and closed,
#: figure processes, thread pools and dask clients closed. The console script ends them with
#: ``os._exit`` instead of Python's finalization, which takes 0.1-0.2 s once numpy, pandas,
#: pyarrow and scipy are loaded (benchmarks/RESULTS.md, issue 16). The torch commands keep
#: the normal exit (their libraries clean up at exit).
FAST_EXIT = frozenset({"assoc", "grm", "clump", "loci", "panel", "meta", "ldscore", "h2"})


def run() -> None:  # the console script
    """:func:`main`; a :data:`FAST_EXIT` command that succeeded flushes and ``os._exit(0)``."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    # Only a finished command exits fast; an error or an interrupt unwinds as usual.
    if not (len(sys.argv) > 1 and sys.argv[1] in FAST_EXIT and code in (0, None)):
        sys.exit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream
            pass
    os._exit(0)


if __name__ == "__main__":  # pragma: no cover
    run()
