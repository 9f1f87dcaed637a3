"""The console-facing vocabulary: the event registry (pure data). Imports nothing else of the engine."""
