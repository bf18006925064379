"""The code of the page "Using savlib in your own code" (book/using.md) runs as shown.

The page is Markdown, not an executed notebook, so nothing else would notice when its
code stops working. Its Python blocks run here in order in one namespace; the block that
starts with ``# train_ddp.py`` is the torchrun script, run with two gloo processes.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys

import pytest

from savlib.schemes.diagnostics import keys

from ._nb import MAX_CODE_LINE, ROOT

PAGE = ROOT / "book" / "using.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), flags=re.S | re.M)
DDP = [b for b in BLOCKS if b.startswith("# train_ddp.py")]


def test_page_has_the_sections_the_reader_needs():
    text = PAGE.read_text()
    for what in ("make_closure", "lr_scheduler", "save_checkpoint", "load_checkpoint",
                 "torchrun", "process_group", "diagnostics"):
        assert what in text, what
    assert len(DDP) == 1
    long = [l for b in BLOCKS for l in b.splitlines() if len(l) > MAX_CODE_LINE]
    assert long == [], long


def test_code_blocks_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "__using__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in BLOCKS:
            if block not in DDP:
                exec(compile(block, str(PAGE), "exec"), ns)
    text = out.getvalue()
    # the loop trains: the full-batch loss fell well below that of the zero function
    first = float(re.search(r"loss after 200 steps: (\S+)", text).group(1))
    assert first < 0.5 * float((ns["y"] ** 2).mean())
    assert list(ns["d"]) == keys("RelSAV")
    assert "energy" in text and "test loss" in text


@pytest.mark.skipif(not shutil.which("torchrun", path=os.path.dirname(sys.executable)),
                    reason="torchrun not installed next to this Python")
def test_torchrun_script_runs_on_two_processes(tmp_path):
    script = tmp_path / "train_ddp.py"
    script.write_text(DDP[0])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    res = subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", str(script)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("global loss") == 1, res.stdout   # printed on rank 0 only
