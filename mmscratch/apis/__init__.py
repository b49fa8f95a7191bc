"""Logic behind the command-line tools (``tools/`` are thin wrappers)."""
