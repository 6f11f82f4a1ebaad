"""Imported first by every step script: makes the repository's workflow_scripts package importable,
and turns Ctrl-C during the job's own imports (torch takes seconds) into one `ERROR:` line and
exit status 130 instead of a traceback; core/step.run takes over once the step starts.

Snakemake puts this folder on sys.path for `script:` jobs; the package lives two levels up.
"""

import os
import signal
import sys
import time
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def _interrupted(signum, frame):
    """Ctrl-C before the step started: nothing was written; say so once (stderr and the job's log,
    which Snakemake shows) and end with 130, as an interrupted step does."""
    smk = getattr(sys.modules.get("__main__"), "snakemake", None)
    line = f"ERROR: rule {getattr(smk, 'rule', '?')}: interrupted while starting; nothing written"
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)
    for log in list(getattr(smk, "log", None) or [])[:1]:
        try:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            Path(log).write_text(line + "\n", encoding="utf-8")
        except OSError:
            pass
    os._exit(130)


signal.signal(signal.SIGINT, _interrupted)
