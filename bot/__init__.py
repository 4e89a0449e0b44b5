"""Kennisbrug core: transport-independent bot machinery (registry, router, storage, scheduling)."""
