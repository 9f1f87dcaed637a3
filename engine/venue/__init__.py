"""The venue as a service: who is calling (operators.py) and, later, the HTTP API."""
