from otter.test_files import test_case

OK_FORMAT = False

name = "q_preprocess"
points = 3

@test_case(points=0, hidden=False)
def test_preprocess_format(preprocess_image):
    import numpy as np
    from PIL import Image
    image = Image.new('RGB', (300, 260), (235, 230, 220))
    image.paste((20, 20, 40), (120, 60, 170, 200))
    out = preprocess_image(image)
    assert isinstance(out, np.ndarray), 'preprocess_image must return a NumPy array'
    assert out.shape == (1, 784), f'preprocess_image must return shape (1, 784), not {out.shape}'
    assert out.dtype.kind == 'f', 'preprocess_image must return floats (divide by the maximum)'
    assert bool(out.min() >= 0) and bool(out.max() <= 1), 'values must lie in [0, 1]'

