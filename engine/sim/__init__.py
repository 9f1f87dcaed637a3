"""The simulator (participants, price paths) and the incident scenarios (format and runner)."""
