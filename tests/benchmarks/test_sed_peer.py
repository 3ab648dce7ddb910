"""benchmarks/sed_peer.py without PyTorch: one line on stderr, exit 2 (run_all then skips it)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_without_torch_it_says_so_in_one_line_and_exits_2():
    code = ("import runpy, sys\n"
            "sys.modules['torch'] = None  # as if PyTorch were not installed\n"
            f"sys.argv = [{str(ROOT / 'benchmarks' / 'sed_peer.py')!r}, '--quick']\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "PyTorch is not installed" in lines[0] and '".[bench]"' in lines[0], res.stderr
    assert res.stdout == ""
