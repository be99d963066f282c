from otter.test_files import test_case

OK_FORMAT = False

name = "q_center_bonus"
points = 1

@test_case(points=0, hidden=False)
def test_center_format(center_image):
    import numpy as np
    sample = np.zeros((28, 28))
    sample[2:8, 3:9] = 1.0
    out = np.asarray(center_image(sample.reshape(1, 784)))
    assert out.shape == (1, 784), f'center_image must return shape (1, 784), not {out.shape}'

