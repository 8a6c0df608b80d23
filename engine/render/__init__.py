"""Output: results for people at a terminal (terminal), as files or JSON/CSV text (files), and
as documents for a report (documents: the Excel workbook, the HTML page; present says how a
rating is shown in one language). Rendering only: nothing here computes a figure."""

__all__ = ["documents", "files", "present", "terminal"]  # imported by name, when needed
