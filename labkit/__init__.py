"""labkit: an autograded course-assignment kit for the MNIST logistic-regression lab."""
