from otter.test_files import test_case

OK_FORMAT = False

name = "q_softmax"
points = 3

@test_case(points=0, hidden=False)
def test_softmax_format(softmax):
    import numpy as np
    p = np.asarray(softmax(np.array([1.0, 2.0, 3.0])), dtype=float)
    assert p.shape == (3,), f'softmax of 3 logits must return 3 probabilities, not shape {p.shape}'
    assert bool(np.all(p >= 0)) and bool(np.isclose(p.sum(), 1.0)), 'softmax must return non-negative probabilities that sum to 1'

