"""The op benchmark (mmscratch's CPU ops vs MMCV's kernels) runs and reports JSON."""
import json

from mmscratch.benchmark import op_bench


def test_tiny_run_reports_each_size(tmp_path):
    out = tmp_path / 'ops.json'
    result = op_bench.main(['--sides', '8', '16', '--nms-boxes', '50', '--repeats', '1',
                            '--threads', '1', '--out', str(out)])
    assert json.loads(out.read_text()) == result
    assert [(r['map'], r['output']) for r in result['roi_align']] == [
        ([8, 8], 7), ([8, 8], 14), ([16, 16], 7), ([16, 16], 14)]
    assert [r['boxes'] for r in result['rpn_nms']] == [50]
    for row in result['roi_align'] + result['rpn_nms']:
        assert row['mmcv_ms'] > 0 and row['mmscratch_ms'] > 0
        assert row['speedup'] > 0  # from the unrounded times
    assert result['threads'] == 1 and 'mmcv' in result['versions']
