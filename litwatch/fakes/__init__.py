"""Local fakes of the services litwatch reads: real HTTP servers on 127.0.0.1.

Each implements its service's contract (parameters, paging, the history server, rate
limits with 429, in-band errors) and serves the real recordings in ``recordings/``
(provenance in ``recordings/MANIFEST.md``).  The tests, ``litwatch demo`` and
``tools/fake_services.py`` all use them, so the same crawler code talks to NCBI or to a fake.
"""

from pathlib import Path

RECORDINGS = Path(__file__).resolve().parent / "recordings"
