from otter.test_files import test_case

OK_FORMAT = False

name = "q_l1_sweep"
points = 2

@test_case(points=0, hidden=False)
def test_sweep_format(l1_sweep, X_train_scaled, y_train, X_test_scaled, y_test):
    import pandas as pd
    table = l1_sweep([0.1, 1.0], X_train_scaled[:300], y_train[:300], X_test_scaled[:100], y_test[:100])
    assert isinstance(table, pd.DataFrame), 'l1_sweep must return a pandas DataFrame'
    assert list(table.columns) == ['C', 'n_zero', 'accuracy'], f'the columns must be C, n_zero, accuracy (in that order), not {list(table.columns)}'
    assert len(table) == 2, 'l1_sweep must return one row per value of C'

