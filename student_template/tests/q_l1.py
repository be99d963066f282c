from otter.test_files import test_case

OK_FORMAT = False

name = "q_l1"
points = 3

@test_case(points=0, hidden=False)
def test_l1_format(clf_l1, count_zero_coefs, n_zero, n_zero_l1):
    from sklearn.linear_model import LogisticRegression
    assert isinstance(clf_l1, LogisticRegression), 'clf_l1 must be a fitted LogisticRegression'
    assert hasattr(clf_l1, 'coef_'), 'clf_l1 must be fitted: call .fit(X_train_scaled, y_train)'
    assert callable(count_zero_coefs), 'count_zero_coefs must be a function'
    assert isinstance(n_zero, (int,)) or type(n_zero).__name__.startswith('int'), 'n_zero must be an integer count'
    assert isinstance(n_zero_l1, (int,)) or type(n_zero_l1).__name__.startswith('int'), 'n_zero_l1 must be an integer count'

