"""Trying draft forms before they reach anyone: test submissions and test cases kept apart.

``scope.py`` keeps test data (``sandbox`` rows of ``submissions`` and ``cases``) out of every
ORM query unless the code asks for it; ``models.py`` holds the tries; ``services.py`` the use
cases; ``openrosa.py`` what the OpenRosa blueprint does differently for a try; ``views.py`` the
designer's pages.
"""
