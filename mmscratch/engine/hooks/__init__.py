"""MMEngine hooks of mmscratch, one per file."""
