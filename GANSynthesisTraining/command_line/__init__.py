"""The training command line: one parser, one ``main`` and shared option groups for every command."""
