"""The venue as a service: the desk (node, market, feeds, alerts), its gateway and event feed, the
operators who may use it (operators.py), and the HTTP API consoles attach to (``perpdesk venue``)."""
