"""The REST transport: signing, server-time offset, rate limiting and the one signed-send seam."""
