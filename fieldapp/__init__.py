"""fieldapp: field data collection for social-work programmes that follow families over years."""

from fieldapp.app import create_app

__all__ = ["create_app"]
