"""``perpdesk demo``: a scenario played headless (``play``: the timeline, a summary, the report) or live
in the console (``desk``: :class:`~console.demo.desk.DemoApp` and its Director). The demo imports the
app; the app and its screens never import the demo (the caption bar is a widget)."""

from .live import demo_app
from .main import run_demo
from .play import build_run, play, summary, write_report

__all__ = ["build_run", "demo_app", "play", "run_demo", "summary", "write_report"]
