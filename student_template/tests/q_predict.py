from otter.test_files import test_case

OK_FORMAT = False

name = "q_predict"
points = 1

@test_case(points=0, hidden=False)
def test_predict_format(predict_label):
    label = predict_label([0.1, 0.7, 0.2], ['a', 'b', 'c'])
    assert isinstance(label, str), 'predict_label must return a label from classes (here a string), not its position'

