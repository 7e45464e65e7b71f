"""Second-oracle libraries from PyPI (Captum, Quantus), installed with
`pip install --no-deps --target WORK/site SPEC` on top of Debian's python3
packages, which supply their dependencies (tools/install-deps.sh). Without
network the calling test is SKIPPED (exit 77, reported by ctest as skipped),
never passed."""
import os
import subprocess
import sys

SKIP = 77


def load(work, module, spec):
    """Make `module` importable, installing `spec` into work/site if needed."""
    try:
        __import__(module)
        return
    except ImportError:
        pass
    site = os.path.join(work, "site")
    if not os.path.isdir(os.path.join(site, module)):
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
               "--target", site, spec]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            why = r.stderr.strip().splitlines()[-1] if r.returncode else ""
        except (OSError, subprocess.TimeoutExpired) as e:
            why = str(e)
        if why:
            print(f"SKIP: {module} unavailable: `{' '.join(cmd)}` failed: {why}")
            sys.exit(SKIP)
    sys.path.insert(0, site)
