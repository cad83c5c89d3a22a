"""What reports, compare and history compute, pure over Results: no figures, no text for a terminal."""
