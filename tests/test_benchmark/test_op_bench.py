"""The op benchmark's rows: each size timed for MMCV's kernel and mmscratch's op."""
import pytest

from mmscratch.benchmark import op_bench


def test_tiny_run_reports_each_size():
    result = op_bench.run(1, sides=(8, 16), nms_boxes=(50,), repeats=1)
    assert [(r['map'], r['output']) for r in result['roi_align']] == [
        ([8, 8], 7), ([8, 8], 14), ([16, 16], 7), ([16, 16], 14)]
    assert [r['boxes'] for r in result['rpn_nms']] == [50]
    for row in result['roi_align'] + result['rpn_nms']:
        assert row['mmcv_ms'] > 0 and row['mmscratch_ms'] > 0 and row['speedup'] > 0
    assert result['threads'] == 1 and 'mmcv' in result['versions']


def test_rejects_empty_work():
    with pytest.raises(ValueError, match='must be >= 1'):
        op_bench.run(1, sides=(8,), nms_boxes=(50,), repeats=0)
