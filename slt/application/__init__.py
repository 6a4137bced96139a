"""Application services: they use the ports and the domain, never an adapter."""
