"""Console commands: one module per command, argument parsing only."""
