"""Retention and erasure: purging deleted submissions and closed cases past their keeping time,
erasing a case on request with everything derived from it, and collecting unreferenced blobs.

Sits above the domain packages (like the web layer): it reads and deletes their rows directly.
"""
