"""`make setup` asks the environment which pins it has instead of comparing file dates."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from toolkit.dev.requirements_check import missing, pins


def test_installed_pins_need_nothing_and_others_are_named(tmp_path):
    yaml_version = metadata.version("pyyaml")
    torch_version = metadata.version("torch")  # a local label (+cpu, +cu128) satisfies ==X.Y.Z
    req = tmp_path / "req.txt"
    req.write_text(f"# comment\npyyaml=={yaml_version}\n\nnumpy>=1\n")
    args = [sys.executable, "-m", "toolkit.dev.requirements_check", f"torch=={torch_version.split('+')[0]}", str(req)]
    assert subprocess.run(args, capture_output=True, text=True).returncode == 0

    req.write_text(f"pyyaml=={yaml_version}\nno-such-package-xyz==1.0\npyyaml==0.0.1\n")
    run = subprocess.run(args, capture_output=True, text=True)
    assert run.returncode == 1
    assert "no-such-package-xyz==1.0 (not installed)" in run.stdout
    assert f"pyyaml==0.0.1 (found {yaml_version})" in run.stdout


def test_only_exact_pins_are_read():
    assert pins(["a==1", "b>=2", "# c==3", "d == 4.0 ; python_version>'3'", "-r other.txt"]) == [("a", "1"), ("d", "4.0")]
    assert missing([]) == []
