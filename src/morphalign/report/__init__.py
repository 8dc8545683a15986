"""The report stage: the sweep's table (`aggregate`), its figures (`figures`), and the caption statistics."""
