"""``gwasrep``: the app and its commands, registered here in help order.

Each command lives in the module of its group (``association``, ``loci``, ``heritability``,
``models``, ``explain``, ``simulation``), checks its options, builds its library config, makes one
runner call and prints a short summary (shared options and helpers: ``_common``). Errors
from bad input become one line on stderr and exit status 2.
"""

from __future__ import annotations

import logging
import sys

import typer

from gwasrep_cli import association, explain, heritability, loci, models, simulation

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Genome-wide association studies on learned phenotypes.")

for command in (association.assoc, association.grm,
                loci.clump, loci.loci, loci.panel, loci.meta,
                heritability.ldscore, heritability.h2, heritability.mi,
                models.train, models.embed, explain.explain,
                simulation.demo, simulation.simulate_emnist, simulation.evaluate):
    app.command()(command)


def _bare_flags(argv: list[str]) -> list[str]:
    """Let ``--lmm`` stand alone for ``--lmm auto``.

    Typer (0.29, on click 8.4) has no option with an optional value, so a
    bare ``--lmm`` (last, or followed by another option) gets its value here.
    """
    out_argv = []
    for i, tok in enumerate(argv):
        out_argv.append(tok)
        if tok == "--lmm" and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            out_argv.append("auto")
    return out_argv


def main() -> None:  # the console script
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    app(args=_bare_flags(sys.argv[1:]), prog_name="gwasrep")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
