"""Evidence that stands up: a per-school append-only chain of what was seen and what was done
(`chain`), what goes into it (`record`), and a folder a head can hand over (`export`)."""
