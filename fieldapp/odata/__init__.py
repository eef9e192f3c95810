"""The ODK Central-compatible data API under ``/v1`` (pyODK, ruODK, Power BI, Excel)."""
