"""tools/benchmark_ops.py: JSON on stdout and in --out (bad inputs: tests/test_tools)."""
import json

from mmscratch.apis import benchmark_ops


def test_writes_the_json_it_prints(tmp_path, capsys):
    out = tmp_path / 'ops.json'
    result = benchmark_ops.main(['--sides', '8', '--nms-boxes', '40', '--repeats', '1',
                                '--threads', '1', '--out', str(out)])
    assert json.loads(out.read_text()) == result == json.loads(capsys.readouterr().out)

