"""Command-line entry points: thin layers over library functions."""
