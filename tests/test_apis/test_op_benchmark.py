"""tools/benchmark_ops.py: JSON on stdout and in --out; bad numbers are one error line."""
import json
import subprocess
import sys
from pathlib import Path

from mmscratch.apis import op_benchmark

REPO = Path(__file__).resolve().parents[2]


def test_writes_the_json_it_prints(tmp_path, capsys):
    out = tmp_path / 'ops.json'
    result = op_benchmark.main(['--sides', '8', '--nms-boxes', '40', '--repeats', '1',
                                '--threads', '1', '--out', str(out)])
    assert json.loads(out.read_text()) == result == json.loads(capsys.readouterr().out)


def test_bad_numbers_end_in_one_error_line():
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'benchmark_ops.py'),
                           '--repeats', '0'], cwd=str(REPO), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith('error:') and 'must be >= 1' in lines[-1]
    assert 'Traceback' not in proc.stderr
