"""A plugin whose schema takes a name another plugin has: refused."""
