"""Command-line tools: replay, verify, refunds export (and their progress line)."""
