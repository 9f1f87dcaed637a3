"""Settings: configuration, paths (platformdirs), logging set-up."""
