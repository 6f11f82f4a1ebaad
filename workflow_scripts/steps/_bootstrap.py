"""Imported first by every step script: makes the repository's workflow_scripts package importable.

Snakemake puts this folder on sys.path for `script:` jobs; the package lives two levels up.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
