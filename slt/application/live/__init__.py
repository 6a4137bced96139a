"""`slt live`'s pure pieces: patience with 429s and bans at start-up, the status line, the traded
universe. The session is assembled in slt.entrypoints.live."""
