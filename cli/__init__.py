"""The ``gwasrep`` command line (installed as the ``gwasrep_cli`` package)."""
