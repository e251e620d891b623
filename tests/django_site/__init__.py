"""A small Django project (sqlite, the admin, an upload view) served by fasth2 in tests."""
