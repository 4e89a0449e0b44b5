"""Feature packages the tests load as ``config.plugins``."""
