"""Where the tests read the metrics contract from.

A copy is kept in ``tests/data`` so the suite runs from any checkout; when the team's
``shared/`` folder sits beside the repository, a test checks the copy still matches it.
"""

from __future__ import annotations

from pathlib import Path

CONTRACT = Path(__file__).resolve().parent / "data" / "metrics-contract.tsv"
SHARED_CONTRACT = Path(__file__).resolve().parents[1].parent / "shared" / "metrics-contract.tsv"
