"""Exports: a form's submissions as a zip of CSVs or an XLSX workbook, and a case list's cases,
streamed in constant memory, region-scoped, audited and neutralised against formula injection."""
