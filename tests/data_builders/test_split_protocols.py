"""The split protocols (issue 14): MMRec's rule on the real Sports 5-core, the old random
8:1:1 under its new name, RecBole's temporal ratio split and leave-one-out, and the
``sequence`` reader that gives the Sports interactions their time order."""
import hashlib

import numpy as np
import pytest

from addrl_graph import load_graph
from addrl_graph.data.schema import INTERACTS, TEST, TRAIN, VALID
from data_builders.build import BuildConfig, build
from data_builders.errors import DataBuildError
from data_builders.readers import ReadStats, read_meta, read_reviews
from data_builders.readers.sniff import check_format
from data_builders.split import split_interactions, time_order
from tests.conftest import SHARED_DATA

SPORTS = SHARED_DATA / 'amazon-2014-sports-interactions' / 'user_sequence.txt'


@pytest.fixture(scope='module')
def sports():
    """``(user [E], record [E])`` of the real Sports 5-core, read by the sequence reader."""
    stats = ReadStats(str(SPORTS))
    users = [r.user_id for r in read_reviews(SPORTS, 'sequence', stats)]
    assert (stats.lines, stats.kept, dict(stats.skipped)) == (35_598, 35_598, {})
    _, user = np.unique(np.array(users), return_inverse=True)
    return user, np.arange(len(user))


def _per_user(user, split):
    """Train, validation and test interactions of every user ``[U, 3]``."""
    counts = np.zeros((user.max() + 1, 3), dtype=np.int64)
    np.add.at(counts, (user, split.astype(np.int64)), 1)
    return counts


def _mmrec_notebook_labels(n_items):
    """MMRec preprocessing/1splitting.ipynb cell 6 (@ e775373b), as written there."""
    if n_items < 10:
        return [0] * (n_items - 2) + [1] + [2]
    val_test_len = int(n_items * 0.2)
    train_len = n_items - val_test_len
    val_len = val_test_len // 2
    test_len = val_test_len - val_len
    return [0] * train_len + [1] * val_len + [2] * test_len


def test_mmrec_reproduces_mmrec_on_the_real_sports_5core(sports):
    user, _ = sports
    assert (len(user), user.max() + 1) == (296_337, 35_598)
    split = split_interactions(user, 'mmrec', seed=0)
    # MMRec's logs for Sports: 218,409 / 37,899 / 40,029 train / valid / test.
    assert np.bincount(split, minlength=3).tolist() == [218_409, 37_899, 40_029]
    per_user = _per_user(user, split)
    assert per_user[:, VALID].min() >= 1 and per_user[:, TEST].min() >= 1
    assert per_user[:, TRAIN].min() >= 3
    # Every user's counts are those of MMRec's own loop.
    expected = np.array([np.bincount(_mmrec_notebook_labels(n), minlength=3)
                         for n in per_user.sum(axis=1)])
    assert np.array_equal(per_user, expected)
    # Which interactions are held out is a seeded random draw (MMRec shuffles), not the time.
    again = split_interactions(user, 'mmrec', seed=1)
    assert np.array_equal(_per_user(user, again), per_user)
    assert not np.array_equal(again, split)
    assert np.array_equal(split, split_interactions(user, 'mmrec', seed=0))


def test_temporal_and_loo_on_the_real_sports_order(sports):
    user, record = sports
    time = time_order(np.full(len(user), np.nan), record, 'sequence')
    newest = np.zeros(user.max() + 1, dtype=np.int64)
    np.maximum.at(newest, user, record)                 # each user's last item on the line
    for protocol in ('temporal', 'loo'):
        split = split_interactions(user, protocol, seed=0, time=time)
        assert (split[newest] == TEST).all()
        per_user = _per_user(user, split)
        assert per_user[:, TEST].min() >= 1 and per_user[:, VALID].min() >= 1
    assert (per_user[:, TEST] == 1).all() and (per_user[:, VALID] == 1).all()


def test_random_811_is_the_former_mmrec_bit_for_bit():
    # Expected values written by the pre-issue-14 split_interactions(user, 'mmrec', seed)
    # (commit 9abf9fb), and of 'paper', which must not change either.
    user = np.repeat(np.arange(6), [5, 7, 10, 3, 12, 9])
    split = split_interactions(user, 'random-811', seed=7)
    assert ''.join(map(str, split)) == '0000002000010000000012002000000021010201000000'
    rng = np.random.default_rng(1)
    user = rng.permutation(np.repeat(np.arange(2000), rng.integers(5, 40, 2000)))
    digests = {p: hashlib.sha256(split_interactions(user, p, seed=5).tobytes()).hexdigest()
               for p in ('random-811', 'paper')}
    assert digests == {
        'random-811': 'dd43da1666208cacf542b9b7d45e31295ac92cf87292770cdfd03a5af0637215',
        'paper': '0fe73aa66c58540fd78908ff7d2ae3df082b8e2b301c87d4b94815db13da523c'}


def _recbole_split_ids(tot, ratios):
    """RecBole ``Dataset._calcu_split_ids`` (recbole/data/dataset/dataset.py @ 7b02be5e)."""
    cnt = [int(ratios[i] * tot) for i in range(len(ratios))]
    cnt[0] = tot - sum(cnt[1:])
    for i in range(1, len(ratios)):
        if cnt[0] <= 1:
            break
        if 0 < ratios[-i] * tot < 1:
            cnt[-i] += 1
            cnt[0] -= 1
    return cnt


def test_temporal_puts_the_newest_in_test():
    # user 0: 10 interactions with shuffled times → 8 / 1 / 1; user 1: 5 with a tie at the
    # newest time (the later row is newer) → 3 / 1 / 1; user 2: 2 → 1 / 0 / 1; user 3: 1.
    user = np.array([0] * 10 + [1] * 5 + [2] * 2 + [3])
    time = np.array([5, 9, 1, 7, 3, 10, 2, 8, 4, 6, 1, 50, 20, 50, 30, 7, 3, 4.0])
    split = split_interactions(user, 'temporal', seed=0, time=time)
    expected = [0, 1, 0, 0, 0, 2, 0, 0, 0, 0] + [0, 1, 0, 2, 0] + [2, 0] + [0]
    assert split.tolist() == expected
    assert np.array_equal(split, split_interactions(user, 'temporal', seed=9, time=time))
    # The counts are RecBole's for every user size.
    sizes = np.arange(1, 201)
    user = np.repeat(np.arange(200), sizes)
    split = split_interactions(user, 'temporal', time=np.arange(len(user), dtype=float))
    counts = _per_user(user, split)
    assert counts.tolist() == [_recbole_split_ids(int(n), [0.8, 0.1, 0.1]) for n in sizes]


def test_temporal_without_timestamps_says_what_to_use():
    user = np.array([0, 0, 0, 1, 1, 1])
    with pytest.raises(DataBuildError, match=r'temporal .* 6 of 6 have no timestamp.*'
                                             r'--format sequence.*--split mmrec'):
        split_interactions(user, 'temporal')
    with pytest.raises(DataBuildError, match='1 of 6 have no timestamp'):
        split_interactions(user, 'temporal', time=[1, 2, np.nan, 1, 2, 3])


def test_loo_holds_out_one_test_and_one_validation():
    rng = np.random.default_rng(0)
    sizes = np.r_[1, 2, rng.integers(3, 30, 300)]
    user = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    time = rng.random(len(user))
    split = split_interactions(user, 'loo', seed=0, time=time)
    counts = _per_user(user, split)
    assert counts[0].tolist() == [1, 0, 0] and counts[1].tolist() == [1, 0, 1]
    assert (counts[2:, TEST] == 1).all() and (counts[2:, VALID] == 1).all()
    for u in range(1, len(sizes)):                        # by time: the newest, then the next
        rows = np.flatnonzero(user == u)
        by_time = rows[np.argsort(time[rows])]
        assert split[by_time[-1]] == TEST
        if len(rows) > 2:
            assert split[by_time[-2]] == VALID and (split[by_time[:-2]] == TRAIN).all()
    # Without times: the same counts, drawn at random with the seed.
    untimed = split_interactions(user, 'loo', seed=0)
    assert np.array_equal(_per_user(user, untimed), counts)
    assert np.array_equal(untimed, split_interactions(user, 'loo', seed=0))
    assert not np.array_equal(untimed, split_interactions(user, 'loo', seed=1))


def test_sequence_reader(tmp_path):
    path = tmp_path / 'user_sequence.txt'
    path.write_text('u1 a b c\n\nu2 b\n{"reviewerID": "x", "asin": "y"}\nu3\tc  a\r\n')
    stats = ReadStats(str(path))
    records = [(r.user_id, r.item_id, r.timestamp) for r in read_reviews(path, 'sequence',
                                                                         stats)]
    assert records == [('u1', 'a', None), ('u1', 'b', None), ('u1', 'c', None),
                       ('u2', 'b', None), ('u3', 'c', None), ('u3', 'a', None)]
    assert stats.lines == 4 and stats.kept == 3 and dict(stats.skipped) == {'not_sequence': 1}
    path.write_text('u1 a b\nu2\n')
    with pytest.raises(DataBuildError, match=r'user_sequence\.txt:2: missing_item_id'):
        list(read_reviews(path, 'sequence', strict=True))
    with pytest.raises(DataBuildError, match='--format sequence has no metadata'):
        read_meta(path, 'sequence')


def test_sniffer_tells_sequences_from_json():
    check_format(SPORTS, 'sequence', 'review')          # no false alarm on the real file
    with pytest.raises(DataBuildError, match='pass --format sequence'):
        check_format(SPORTS, '2014', 'review')
    gift = SHARED_DATA / 'amazon-2018-gift-cards' / 'Gift_Cards_5.json.gz'
    with pytest.raises(DataBuildError, match=r'pass --format 2014 or --format 2018 \(got '
                                             r'--format sequence'):
        check_format(gift, 'sequence', 'review')


def test_build_from_sequences_splits_by_line_order(tmp_path):
    # 8 users a 5 of 6 items; the last item of each line is that user's newest.
    rng = np.random.default_rng(0)
    lines = [f'u{u} ' + ' '.join(f'i{i}' for i in rng.permutation(6)[:5]) for u in range(8)]
    dump = tmp_path / 'seq.txt'
    dump.write_text('\n'.join(lines) + '\n')
    config = dict(format='sequence', reviews=dump, text_encoder='none', image_encoder='none',
                  k_core=0, progress=False)
    meta = build(BuildConfig(out=tmp_path / 'g', split='temporal', **config))
    data, _ = load_graph(tmp_path / 'g')
    edges = data[INTERACTS]
    users, items = np.array(meta['users']), np.array(meta['items'])
    held = {(users[u], items[i], int(s)) for u, i, s in zip(edges.edge_index[0].tolist(),
                                                            edges.edge_index[1].tolist(),
                                                            edges.split.tolist()) if s}
    assert held == {(line.split()[0], line.split()[k], s) for line in lines
                    for k, s in ((-1, TEST), (-2, VALID))}
    assert [a['name'] for a in meta['attributes']] == ['popularity']
    with pytest.raises(DataBuildError, match='--format sequence has no metadata'):
        BuildConfig(out=tmp_path / 'h', meta=dump, **config).validate()
