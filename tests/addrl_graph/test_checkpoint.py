import pytest
import torch

from addrl_graph.training.runs import (FORMAT_VERSION, checkpoint_file, load_checkpoint,
                                       save_checkpoint)
from addrl_graph.errors import CheckpointError


def test_round_trip_and_sidecar(tmp_path):
    state = {'model': {'w': torch.arange(6.).view(2, 3)}, 'epoch': 3}
    save_checkpoint(tmp_path, 'best', state, {'config': {'lr': 0.1}, 'epoch': 3})
    loaded, info = load_checkpoint(tmp_path, 'best')
    assert torch.equal(loaded['model']['w'], state['model']['w'])
    assert info['epoch'] == 3 and len(info['sha256']) == 64
    assert info['format_version'] == FORMAT_VERSION


def test_unknown_format_version_is_refused_by_name(tmp_path):
    import json

    save_checkpoint(tmp_path, 'last', {'x': torch.ones(3)}, {})
    sidecar = tmp_path / 'last.json'
    info = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps(dict(info, format_version=99)))
    with pytest.raises(CheckpointError, match='format version 99'):
        load_checkpoint(tmp_path, 'last')


def test_corruption_and_missing_are_reported(tmp_path):
    with pytest.raises(CheckpointError, match='no checkpoint'):
        load_checkpoint(tmp_path, 'last')
    save_checkpoint(tmp_path, 'last', {'x': torch.ones(100)}, {})
    path = checkpoint_file(tmp_path, 'last')
    payload = bytearray(path.read_bytes())
    payload[-30] ^= 0x55
    path.write_bytes(bytes(payload))
    with pytest.raises(CheckpointError, match='checksum'):
        load_checkpoint(tmp_path, 'last')


class Evil:
    pass


def test_pickled_object_is_refused(tmp_path):
    import hashlib
    import json

    path = tmp_path / 'x.pt'
    torch.save({'obj': Evil()}, path)  # a class weights_only may not build
    (tmp_path / 'x.json').write_text(json.dumps(
        {'sha256': hashlib.sha256(path.read_bytes()).hexdigest()}))
    with pytest.raises(CheckpointError, match='cannot be loaded'):
        load_checkpoint(tmp_path, 'x')
