from otter.test_files import test_case

OK_FORMAT = False

name = "q_z"
points = 2

@test_case(points=0, hidden=False)
def test_z_format(compute_z, clf, X_test_scaled):
    import numpy as np
    z = compute_z(clf, X_test_scaled[0])
    assert isinstance(z, np.ndarray), 'compute_z must return a NumPy array'
    assert z.shape == (len(clf.classes_),), f'compute_z must return one value per class: shape {(len(clf.classes_),)}, not {z.shape}'
    assert bool(np.all(np.isfinite(z))), 'compute_z returned values that are not finite'

