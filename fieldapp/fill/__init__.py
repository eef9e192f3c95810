"""Web forms for field workers (``/fill``): ODK Web Forms in the browser, for phones without
ODK Collect. The page talks OpenRosa to ``/fill/collect`` (the OpenRosa blueprint, mounted a
third time and authenticated by the web session)."""
