"""perpdesk's operator console (Textual). Talks to the node through its gateway only."""
