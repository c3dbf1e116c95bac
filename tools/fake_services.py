"""Run the test suite's fake services by hand, to try litwatch end to end without a network.

    python tools/fake_services.py            # prints the variables to export, then serves

In another terminal, export what it printed and use litwatch as usual::

    litwatch crawl && litwatch trials && litwatch show NCT03395314 && litwatch digest --out preview/

The fakes serve the real recordings in litwatch/fakes/recordings (every PubMed record matches every
query: the fake does not evaluate PubMed syntax), plus the papers the seed documents cite,
derived from a recording, and a study for NCT03395314 derived from a recorded one.  Type
``change`` and Enter to replace NCT03395314 by a changed version (RECRUITING -> TERMINATED,
enrollment 60 -> 22, results posted, a RESULT reference), then crawl again to see it in
``litwatch show NCT03395314`` and in the digest.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


from litwatch.fakes.world import NCT, changed_study, start_seed_world  # noqa: E402


def main() -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    eutils, idconv, ctgov, study = start_seed_world()
    print(f"export LITWATCH_EUTILS_URL={eutils.base_url}")
    print(f"export LITWATCH_IDCONV_URL={idconv.base_url}")
    print(f"export LITWATCH_CTGOV_URL={ctgov.base_url}")
    print("export LITWATCH_CTGOV_DELAY=0.05")
    print(f"# serving; type 'change' + Enter to change {NCT}, Ctrl-C to stop", flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "change":
                ctgov.put_study(changed_study(study))
                print(f"# {NCT} is now TERMINATED, 22 enrolled, results posted", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        for fake in (eutils, idconv, ctgov):
            fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
