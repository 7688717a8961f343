"""The examples run end to end on the synthetic ``small`` preset (smoke runs, a few epochs)."""
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / 'examples'


def _run(script, *args, cwd):
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_train_sports_small(tmp_path):
    stdout = _run('train_sports.py', '--preset', 'small', '--text-encoder', 'none',
                  '--image-encoder', 'none', '--models', 'addrl,bpr-mf', '--epochs', '2',
                  '--id-encoder', 'lightgcn', '--quiet', cwd=tmp_path)
    assert stdout.startswith('data: synthetic small dataset (embedded default')
    assert '| addrl |' in stdout and '| bpr-mf |' in stdout
    report = (tmp_path / 'runs' / 'sports' / 'report.md').read_text()
    assert '| bpr-mf |' in report and '## One explained recommendation' in report
    assert '![control study of price](control_price.png)' in report
    assert (tmp_path / 'runs' / 'sports' / 'control_price.png').stat().st_size > 1000
    config = (tmp_path / 'runs' / 'sports' / 'addrl' / 'seed-0' / 'config.json').read_text()
    assert '"id_encoder": "lightgcn"' in config
    # the default budget: early stopping with patience 3 under a 15-minute cap per model
    assert '"patience": 3' in config and '"max_minutes": 15.0' in config


def test_gcn_encoder_table(tmp_path):
    _run('train_sports.py', '--preset', 'small', '--text-encoder', 'none', '--image-encoder',
         'none', '--models', 'bpr-mf', '--epochs', '1', '--quiet', cwd=tmp_path)
    graph = tmp_path / 'data' / 'sports-synthetic-small'
    stdout = _run('gcn_encoder.py', '--data', str(graph), '--epochs', '2', '--encoders',
                  'embedding,lightgcn,sage+aware', '--out', str(tmp_path / 'enc'), '--quiet',
                  cwd=tmp_path)
    table = stdout.splitlines()[-4:]
    assert table[0].split()[:3] == ['encoder', 'lr', 'valid']
    assert [line.split()[:2] for line in table[1:]] == [['embedding', '0.01'],
                                                        ['lightgcn', '0.03'],
                                                        ['sage+aware', '0.03']]
