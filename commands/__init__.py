"""Feature packages: one per capability, each with a ``setup(services)`` entry point."""
