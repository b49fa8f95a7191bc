"""tools/demo.py trains with the levers that passed the accuracy checks (bf16 and
mmscratch's CPU ops) unless told otherwise, and records which in its results."""
import json
from types import SimpleNamespace

import pytest

from mmscratch.apis import demo


@pytest.fixture
def captured(monkeypatch, tmp_path):
    calls = []

    def fake_train(argv):
        calls.append(list(argv))
        return SimpleNamespace(work_dir=str(tmp_path))

    monkeypatch.setattr(demo, 'dataset_is_complete', lambda root: True)
    monkeypatch.setattr(demo.train_api, 'main', fake_train)
    monkeypatch.setattr(demo, 'read_curve', lambda work_dir: [dict(
        iter=1500, images_seen=6000, bbox_mAP=0.5, segm_mAP=0.5)])
    return calls


def test_default_levers(captured, tmp_path):
    results = demo.main(['--work-dir', str(tmp_path)])
    argv = captured[0]
    assert argv[0] == demo.DEMO_CONFIG
    assert '--bf16' in argv and '--fast-cpu-ops' in argv
    assert results['precision'] == 'bf16' and results['cpu_ops'] == 'mmscratch'
    assert json.loads((tmp_path / 'demo_results.json').read_text())['cpu_ops'] == 'mmscratch'


def test_opting_out_trains_the_config_as_written(captured, tmp_path):
    results = demo.main(['--work-dir', str(tmp_path), '--fp32', '--mmcv-ops'])
    argv = captured[0]
    assert '--bf16' not in argv and '--fast-cpu-ops' not in argv
    assert results['precision'] == 'fp32' and results['cpu_ops'] == 'mmcv'
