"""The measuring harness: timing, peak memory, the machine record, run folders, progress."""
