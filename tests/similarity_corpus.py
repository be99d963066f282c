"""A planted corpus for the similarity report: honest work, copies in disguise, handed-out code.

``build_corpus(folder)`` writes 16 notebooks made from the handed-out notebook
(``student_template/logreg_digits.ipynb``), the same bytes every time, and returns what was
planted in them:

- ``honest_0`` ... ``honest_7``: independent solutions, one hand-written variant per question
  each (a loop, a vectorised expression, scipy, helper functions...), and a written answer of
  their own to each question. ``honest_5`` adds a scratch code cell and a markdown note inside a
  block, ``honest_6`` deleted the ``grader.check("q_predict")`` cell, ``honest_7`` left the bonus
  blank;
- ``copy_renamed`` and ``copy_renamed_commented``: ``honest_0``'s code with every variable
  renamed (the second also with comments added and spaces removed), so the three form a
  cluster; the first also copies ``honest_0``'s ``q_modified_digit`` answer with small edits;
- ``copy_reordered``: ``honest_1``'s code with its helper functions in another order and
  comments added (its ``q_predict``, one line long, is too short to be evidence);
- ``copy_commented``: ``honest_2``'s code with comments, blank lines and other spacing;
- ``copy_partial``: ``honest_3``'s ``q_softmax`` and ``q_preprocess``, renamed; nothing else;
- ``copy_written``: no code; ``honest_4``'s ``q_confusion`` answer with small edits and
  ``honest_5``'s ``q_l1_reading`` answer word for word, and a ``q_modified_digit`` of its own;
- ``blank_0``, ``blank_1``: the handed-out notebook as it is.

    .venv/bin/python tests/similarity_corpus.py OUTPUT_FOLDER
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from both_paths import QUESTIONS

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "student_template" / "logreg_digits.ipynb"
CODE_QUESTIONS = tuple(QUESTIONS)
WRITTEN_QUESTIONS = ("q_confusion", "q_modified_digit", "q_l1_reading")
PLACEHOLDER = "_Type your answer here, replacing this text._"


def _body(text: str) -> str:
    """A function body written flush left, indented by four spaces."""
    lines = text.strip("\n").splitlines()
    return "\n".join(("    " + line) if line else "" for line in lines) + "\n"


# Each variant: (code placed before the handed-out ``def``, the function's body).
Z = [
    (
        "",
        "z = np.empty(len(clf.intercept_))\nfor k in range(len(z)):\n"
        "    z[k] = clf.intercept_[k] + np.dot(clf.coef_[k], x)\nreturn z",
    ),
    ("", "weights = clf.coef_\nbias = clf.intercept_\nreturn weights.dot(x) + bias"),
    ("", "return np.dot(clf.coef_, x) + clf.intercept_"),
    ("", "return clf.decision_function(np.asarray(x).reshape(1, -1))[0]"),
    (
        "",
        "x = np.asarray(x, dtype=float).ravel()\nlogits = []\n"
        "for w, b in zip(clf.coef_, clf.intercept_):\n    logits.append(b + float(np.sum(w * x)))\n"
        "return np.array(logits)",
    ),
    ("", 'return np.einsum("kd,d->k", clf.coef_, x) + clf.intercept_'),
    ("", "z = np.matmul(clf.coef_, x.reshape(-1, 1)).flatten()\nz = z + clf.intercept_\nreturn z"),
    ("", "return (clf.coef_ * x).sum(axis=1) + clf.intercept_"),
]

SOFTMAX = [
    (
        "",
        """
z = np.array(z, dtype=float)
out = np.empty_like(z)
rows = z.reshape(-1, z.shape[-1])
flat = out.reshape(-1, z.shape[-1])
for i in range(rows.shape[0]):
    shifted = rows[i] - rows[i].max()
    e = np.exp(shifted)
    flat[i] = e / e.sum()
return out
""",
    ),
    (
        "",
        """
from scipy.special import softmax as scipy_softmax

return scipy_softmax(np.asarray(z, dtype=float), axis=-1)
""",
    ),
    (
        "",
        """
shifted = z - np.max(z, axis=-1, keepdims=True)
exp_z = np.exp(shifted)
return exp_z / np.sum(exp_z, axis=-1, keepdims=True)
""",
    ),
    (
        "",
        """
from scipy.special import logsumexp

z = np.asarray(z, dtype=float)
log_probs = z - logsumexp(z, axis=-1, keepdims=True)
return np.exp(log_probs)
""",
    ),
    (
        "",
        """
z = np.atleast_1d(np.asarray(z, dtype=np.float64))
m = z.max(axis=z.ndim - 1)
e = np.exp(z - np.expand_dims(m, -1))
total = e.sum(axis=z.ndim - 1)
return e / np.expand_dims(total, -1)
""",
    ),
    (
        "",
        """
def one_row(v):
    v = v - max(v)
    ex = np.exp(v)
    return ex / ex.sum()

return np.apply_along_axis(one_row, -1, np.asarray(z, dtype=float))
""",
    ),
    (
        "",
        """
z = np.asarray(z, dtype=float)
if z.ndim == 1:
    c = z.max()
    p = np.exp(z - c)
    return p / p.sum()
c = z.max(axis=1)[:, None]
p = np.exp(z - c)
return p / p.sum(axis=1)[:, None]
""",
    ),
    (
        "",
        """
z = np.asarray(z, dtype=float)
top = np.amax(z, axis=-1, keepdims=True)
log_norm = top + np.log(np.sum(np.exp(z - top), axis=-1, keepdims=True))
return np.exp(z - log_norm)
""",
    ),
]

PREDICT = [
    (
        "",
        "best = 0\nfor i in range(1, len(probs)):\n    if probs[i] > probs[best]:\n"
        "        best = i\nreturn classes[best]",
    ),
    ("", "return classes[np.argmax(probs)]"),
    ("", "probs = list(probs)\nreturn classes[probs.index(max(probs))]"),
    ("", "return max(zip(probs, classes))[1]"),
    ("", "order = np.argsort(probs)\nreturn classes[order[-1]]"),
    ("", "return classes[int(np.flatnonzero(probs == np.max(probs))[0])]"),
    ("", "scores = dict(zip(classes, probs))\nreturn max(scores, key=scores.get)"),
    ("", "return sorted(zip(classes, probs), key=lambda pair: pair[1])[-1][0]"),
]

PREPROCESS_HELPERS = [
    '''def _invert_small(photo):
    """Grayscale, 28x28, ink bright."""
    small = photo.convert("L").resize((28, 28), resample=Image.Resampling.LANCZOS)
    return ImageOps.invert(small)
''',
    """def _stretch(img, cut):
    arr = np.array(img, dtype=np.float64)
    arr = arr - np.percentile(arr, cut)
    arr[arr < 0] = 0
    return arr
""",
    """def _to_sample(arr):
    hi = np.max(arr)
    return (arr / hi if hi else arr).reshape((1, -1))
""",
]

PREPROCESS = [
    (
        "",
        """
gray = image.convert("L")
small = gray.resize((28, 28), Image.Resampling.LANCZOS)
pixels = 255.0 - np.asarray(small, dtype=float)
floor = np.percentile(pixels, pixel_filter)
pixels = np.maximum(pixels - floor, 0)
peak = pixels.max()
if peak > 0:
    pixels /= peak
return pixels.reshape(1, 784)
""",
    ),
    (
        "\n\n".join(PREPROCESS_HELPERS),
        "return _to_sample(_stretch(_invert_small(image), pixel_filter))",
    ),
    (
        "",
        """
img = ImageOps.invert(image.convert("L").resize((28, 28), Image.Resampling.LANCZOS))
data = np.asarray(img).astype(float)
data = np.clip(data - np.percentile(data, pixel_filter), 0, None)
return (data / data.max()).reshape(1, -1)
""",
    ),
    (
        "",
        """
im = image.convert("L")
im = im.resize((28, 28), Image.Resampling.LANCZOS)
im = ImageOps.invert(im)
a = np.array(im, dtype=np.float32)
threshold = np.percentile(a, pixel_filter)
a = a - threshold
a[a < 0] = 0.0
m = a.max()
a = a / m if m != 0 else a
return a.flatten()[np.newaxis, :].astype(float)
""",
    ),
    (
        "",
        """
resized = image.convert(mode="L").resize(size=(28, 28), resample=Image.Resampling.LANCZOS)
values = 255 - np.asarray(resized, dtype=int).reshape(-1)
cutoff = np.percentile(values, pixel_filter)
values = np.where(values > cutoff, values - cutoff, 0).astype(float)
largest = float(values.max()) or 1.0
return np.reshape(values / largest, (1, 784))
""",
    ),
    (
        "",
        """
pic = image.convert("L").resize((28, 28), Image.Resampling.LANCZOS)
inverted = ImageOps.invert(pic)
x = np.asarray(inverted, dtype=float)
low = np.percentile(x, pixel_filter)
x = np.clip(x, low, 255) - low
if x.max() > 0:
    x = x / x.max()
return x.reshape(1, 28 * 28)
""",
    ),
    (
        "",
        """
small = image.convert("L").resize((28, 28), Image.Resampling.LANCZOS)
flat = [255 - value for value in small.getdata()]
cut = np.percentile(flat, pixel_filter)
flat = [max(value - cut, 0) for value in flat]
biggest = max(flat)
if biggest:
    flat = [value / biggest for value in flat]
return np.array(flat, dtype=float).reshape(1, 784)
""",
    ),
    (
        "",
        """
grey = image.convert("L")
grey = grey.resize((28, 28), Image.Resampling.LANCZOS)
ink = ImageOps.invert(grey)
sample = np.array(ink).astype(np.float64).ravel()
sample -= np.percentile(sample, pixel_filter)
sample = sample.clip(min=0)
sample /= sample.max() if sample.max() > 0 else 1
return sample[None, :]
""",
    ),
]

CENTER = [
    (
        "",
        """
img = np.asarray(sample, dtype=float).reshape(28, 28)
total = img.sum()
if total == 0:
    return img.reshape(1, 784)
rows = np.arange(28)
r = (img.sum(axis=1) * rows).sum() / total
c = (img.sum(axis=0) * rows).sum() / total
moved = ndimage.shift(img, (14 - r, 14 - c), mode="constant", cval=0)
return moved.reshape(1, 784)
""",
    ),
    (
        "",
        """
grid = sample.reshape(28, 28)
cy, cx = ndimage.center_of_mass(grid)
return ndimage.shift(grid, shift=(14 - cy, 14 - cx), order=1).reshape(1, -1)
""",
    ),
    (
        "",
        """
image = np.array(sample, dtype=float).reshape((28, 28))
if not image.any():
    return image.reshape((1, 784))
com = np.array(ndimage.center_of_mass(image))
offset = np.array([14.0, 14.0]) - com
result = ndimage.shift(image, offset, order=3, mode="constant", cval=0.0)
result[result < 0] = 0
return result.reshape((1, 784))
""",
    ),
    (
        "",
        """
pic = sample.reshape(28, 28).astype(float)
mass = pic.sum()
if mass <= 0:
    return pic.reshape(1, 784)
ys, xs = np.indices(pic.shape)
dy = int(round(14 - (ys * pic).sum() / mass))
dx = int(round(14 - (xs * pic).sum() / mass))
out = np.zeros_like(pic)
src = pic[max(0, -dy):28 - max(0, dy), max(0, -dx):28 - max(0, dx)]
out[max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
return out.reshape(1, 784)
""",
    ),
    (
        "",
        """
matrix = np.reshape(sample, (28, 28))
center = ndimage.center_of_mass(matrix)
delta = [14 - center[0], 14 - center[1]]
shifted = ndimage.shift(matrix, delta, mode="constant")
return np.reshape(shifted, (1, 784))
""",
    ),
    (
        "",
        """
a = np.asarray(sample, dtype=float).reshape(28, 28)
if a.sum() == 0:
    return a.reshape(1, 784)
r0, c0 = ndimage.center_of_mass(a)
moved = ndimage.affine_transform(a, np.eye(2), offset=(r0 - 14, c0 - 14), order=1, cval=0.0)
return moved.reshape(1, 784)
""",
    ),
    (
        "",
        """
from scipy.ndimage import center_of_mass, shift

square = sample.reshape(28, 28)
row, col = center_of_mass(square)
return shift(square, (14 - row, 14 - col), cval=0).reshape(1, 784)
""",
    ),
    None,  # honest_7 left the bonus blank
]

# q_l1: (the lines replacing ``clf_l1 = ...``, the body of count_zero_coefs).
L1 = [
    (
        'clf_l1 = LogisticRegression(l1_ratio=1, C=1, solver="saga", tol=0.1, random_state=0)\n'
        "clf_l1.fit(X_train_scaled, y_train)",
        "coefs = np.asarray(model.coef_).ravel()\nzero_count = 0\nfor value in coefs:\n"
        "    if value == 0:\n        zero_count += 1\nreturn zero_count",
    ),
    (
        'clf_l1 = LogisticRegression(C=1, l1_ratio=1, solver="saga", tol=0.1,\n'
        "                            random_state=0).fit(X_train_scaled, y_train)",
        "return int(np.sum(model.coef_ == 0))",
    ),
    (
        'clf_l1 = LogisticRegression(\n    solver="saga", l1_ratio=1, C=1.0, tol=0.1, '
        'random_state=0\n").fit(X_train_scaled, y_train)',
        "return int(model.coef_.size - np.count_nonzero(model.coef_))",
    ),
    (
        'params = dict(C=1, l1_ratio=1, tol=0.1, solver="saga", random_state=0)\n'
        "clf_l1 = LogisticRegression(**params)\nclf_l1 = clf_l1.fit(X_train_scaled, y_train)",
        "return int((model.coef_ == 0).sum())",
    ),
    (
        'clf_l1 = LogisticRegression(random_state=0, tol=0.1, solver="saga", C=1, l1_ratio=1)'
        ".fit(X_train_scaled, y_train)",
        "return len(np.where(model.coef_.flatten() == 0)[0])",
    ),
    (
        'clf_l1 = LogisticRegression(l1_ratio=1, C=1, tol=0.1, solver="saga", random_state=0)\n'
        "clf_l1.fit(X_train_scaled, y_train)",
        "return sum(1 for row in model.coef_ for w in row if w == 0)",
    ),
    (
        'clf_l1 = LogisticRegression(C=1, solver="saga", tol=0.1, l1_ratio=1, random_state=0)\n'
        "clf_l1 = clf_l1.fit(X_train_scaled, y_train)",
        "zeros = np.isclose(model.coef_, 0, atol=0)\nreturn int(np.count_nonzero(zeros))",
    ),
    (
        'clf_l1 = LogisticRegression(tol=0.1, C=1, l1_ratio=1, random_state=0, solver="saga")'
        ".fit(X_train_scaled, y_train)",
        "flat = model.coef_.reshape(-1)\nreturn int(flat.shape[0] - np.flatnonzero(flat).shape[0])",
    ),
]

SWEEP_HELPERS = [
    """def _fit_l1(C, X, y):
    model = LogisticRegression(C=C, l1_ratio=1, solver="saga", tol=0.1, random_state=0)
    return model.fit(X, y)
""",
    """def _row(C, model, X, y):
    predicted = model.predict(X)
    return {"C": C, "n_zero": count_zero_coefs(model), "accuracy": accuracy_score(y, predicted)}
""",
]

SWEEP = [
    (
        "",
        """
table = {"C": [], "n_zero": [], "accuracy": []}
for c in C_values:
    m = LogisticRegression(C=c, l1_ratio=1, solver="saga", tol=0.1, random_state=0)
    m.fit(X_train, y_train)
    table["C"].append(c)
    table["n_zero"].append(int(np.sum(m.coef_ == 0)))
    table["accuracy"].append(m.score(X_test, y_test))
return pd.DataFrame(table)
""",
    ),
    (
        "\n\n".join(SWEEP_HELPERS),
        """
rows = [_row(C, _fit_l1(C, X_train, y_train), X_test, y_test) for C in C_values]
return pd.DataFrame(rows, columns=["C", "n_zero", "accuracy"])
""",
    ),
    (
        "",
        """
results = []
for C in C_values:
    clf_c = LogisticRegression(l1_ratio=1, C=C, solver="saga", tol=0.1, random_state=0)
    clf_c = clf_c.fit(X_train, y_train)
    results.append((C, count_zero_coefs(clf_c), clf_c.score(X_test, y_test)))
return pd.DataFrame(results, columns=["C", "n_zero", "accuracy"])
""",
    ),
    (
        "",
        """
df = pd.DataFrame(columns=["C", "n_zero", "accuracy"])
for i, C in enumerate(C_values):
    model = LogisticRegression(C=C, tol=0.1, solver="saga", l1_ratio=1, random_state=0)
    model.fit(X_train, y_train)
    acc = np.mean(model.predict(X_test) == y_test)
    df.loc[i] = [C, int((model.coef_ == 0).sum()), acc]
df["n_zero"] = df["n_zero"].astype(int)
return df
""",
    ),
    (
        "",
        """
Cs, zeros, accs = [], [], []
for value in C_values:
    fitted = LogisticRegression(random_state=0, solver="saga", tol=0.1, l1_ratio=1,
                                C=value).fit(X_train, y_train)
    Cs.append(value)
    zeros.append(count_zero_coefs(fitted))
    accs.append(accuracy_score(y_test, fitted.predict(X_test)))
return pd.DataFrame({"C": Cs, "n_zero": zeros, "accuracy": accs})
""",
    ),
    (
        "",
        """
models = [
    LogisticRegression(C=C, l1_ratio=1, solver="saga", tol=0.1, random_state=0)
    .fit(X_train, y_train)
    for C in C_values
]
return pd.DataFrame(
    {
        "C": list(C_values),
        "n_zero": [count_zero_coefs(m) for m in models],
        "accuracy": [m.score(X_test, y_test) for m in models],
    }
)
""",
    ),
    (
        "",
        """
def one(C):
    est = LogisticRegression(C=C, solver="saga", l1_ratio=1, tol=0.1, random_state=0)
    est.fit(X_train, y_train)
    return C, int(np.count_nonzero(est.coef_ == 0)), float(est.score(X_test, y_test))

return pd.DataFrame.from_records(map(one, C_values), columns=["C", "n_zero", "accuracy"])
""",
    ),
    (
        "",
        """
out = []
for C in C_values:
    lr = LogisticRegression(C=C, l1_ratio=1, tol=0.1, solver="saga", random_state=0)
    lr.fit(X_train, y_train)
    pred = lr.predict(X_test)
    out.append({"C": C, "n_zero": count_zero_coefs(lr), "accuracy": (pred == y_test).mean()})
return pd.DataFrame(out)
""",
    ),
]

CODE = {
    "q_z": Z,
    "q_softmax": SOFTMAX,
    "q_predict": PREDICT,
    "q_preprocess": PREPROCESS,
    "q_center_bonus": CENTER,
    "q_l1_sweep": SWEEP,
}

CONFUSION = [
    "The easiest digits for the model are 0 and 1, whose diagonal entries are close to 0.98. "
    "The hardest are 8 and 5. The most frequent confusions are 4 predicted as 9 and 3 predicted "
    "as 5. In the coefficient images the blue regions of 4 and 9 overlap almost completely, and "
    "since each class score is just a weighted sum of the pixel intensities, two digits that put "
    "ink in the same places get nearly the same score.",
    "Looking at the normalized heatmap, 1 is classified best (about 97%), followed by 0 and 6. "
    "The worst is 8, which often gets labelled 3 or 5. Another common mistake is 7 versus 9. A "
    "linear classifier only multiplies every pixel by a fixed weight; it has no notion of "
    "strokes or loops, so a 7 whose top bar touches the stem looks like a 9 to it.",
    "Easy: 0, 1, 6. Hard: 5, 8, 2. Pairs: (4,9) and (5,3). Reason: the model is linear in raw "
    "pixel values. Its weights for 4 and 9 are positive in the same upper-middle area, so it "
    "cannot separate them when the top of the 4 is closed.",
    "Digit 1 has the highest accuracy because it is a simple vertical line that occupies a "
    "narrow band of pixels. Digits 8 and 2 have the lowest. The confusion matrix shows 2 "
    "mistaken for 8 and 9 mistaken for 4 frequently. From the coefficient plots, the positive "
    "weights for these pairs cover overlapping areas; logistic regression draws a hyperplane in "
    "pixel space, and overlapping ink patterns sit on the same side of it.",
    "Zero and one are the easiest. Five, eight and three are the hardest ones. I see that 3 is "
    "often predicted as 8 and 5 as 3. The coefficient images for 3, 5 and 8 all have blue "
    "pixels on the right side of the image, and the model adds up weights pixel by pixel "
    "without any knowledge of shape, so the scores come out close.",
    "Best: 0 (0.98) and 1 (0.97). Worst: 8 (0.86) and 5 (0.87). The model mixes up 4 and 9, and "
    "2 and 7. Raw pixels are not shift invariant and a linear model can only weigh each "
    "position independently; a 9 and a 4 written with a closed top light up the same pixels.",
    "The heatmaps show digit 6 and digit 0 with very few errors while 9 and 8 are worse. "
    "Frequent confusions are 9→4 and 8→1 (a thin 8 looks like a 1). Because the logits are "
    "$z = Wx + b$, a linear function of pixel intensities, overlapping digits have similar "
    "logits, as the coefficient pictures showed.",
    "I found that 1 and 0 are very easy for the classifier and 5 is the hardest, with 8 close "
    "behind. It confuses 3 with 5 and 4 with 9 most. Looking at the weight maps, the classes "
    "share many red and blue regions, and a linear model cannot look at combinations of pixels, "
    "only each pixel separately.",
]

MODIFIED = [
    "My photo of a 7 was classified correctly. I added a short horizontal bar at the bottom of "
    "the stem, expecting it to become a 2, and the model predicted 2 as I expected. In the "
    "bottom row of the plot the new bar falls on dark blue pixels of class 2 and on red pixels "
    "of class 7, which pushed the score of 2 above 7.",
    "My handwritten 5 was predicted as 6. I redrew it with a wider gap in the lower loop and it "
    "was then classified as 5. The closed loop had been covering pixels that are blue for class "
    "6; opening it removed that evidence.",
    "The model read my 9 correctly. I made the tail curl to the left and it became a 4 in my "
    "head, but the model still said 9, so my guess was wrong: the tail pixels had small weights "
    "for both classes and the top loop still dominated.",
    "My 3 was predicted as 3. I connected the left ends of the two curves so the shape was "
    "nearly an 8, and the prediction switched to 8. The pixels I added on the left are strongly "
    "blue for class 8 and red for 3 in the product images.",
    "I wrote a 1 with a long flag at the top. It was classified as 7. After removing the flag "
    "the model predicted 1. The flag was sitting on blue pixels of class 7.",
    "The first digit (a 2) was misclassified as a 3. I flattened the bottom stroke and made it "
    "longer, and now the model predicts 2. The bottom row shows the long base landing on "
    "positive pixels of class 2 and negative pixels of class 3.",
    "My 0 came out right. I drew a small line inside it and expected an 8, but it was "
    "predicted as 0 again. The line in the middle only touched a few pixels, most of them near "
    "zero weight, so the sum barely changed.",
    "My 4 was classified as 9. When I opened the top of the 4 it was correct. The closed top "
    "had put ink on the positive (blue) pixels for class 9 in the plots.",
]

L1_READING = [
    "When C increases, the penalty gets weaker: the number of zero coefficients goes down and "
    "the test accuracy goes up until it flattens near the unregularized model. When C "
    "decreases, more and more coefficients become exactly zero and the accuracy drops, because "
    "the model keeps too few pixels to separate the classes.",
    "Small C = strong regularization. At C = 0.01 almost all weights are zero and the accuracy "
    "is much lower. As C grows, fewer weights are zero and accuracy improves, but past C = 1 it "
    "hardly changes. L1 trades sparsity for fit.",
    "Increasing C reduces the sparsity of the coefficient matrix; accuracy rises and then "
    "saturates. Decreasing C makes the L1 term dominate the loss, so the optimizer sets most "
    "weights to zero, mostly the border pixels first, and the test accuracy falls.",
    "In my table the zero count falls from about 7,000 to a few hundred as C goes from 0.01 to "
    "10, while accuracy climbs from roughly 0.8 to 0.9. C is the inverse of the regularization "
    "strength, so a bigger C lets the model use more pixels.",
    "Larger C means less penalty, so there are fewer zeros and a better test score. Smaller C "
    "means a bigger penalty, many zeros, and a worse score since information is thrown away.",
    "The plot shows two opposite curves: zeros decrease with C and accuracy increases with C. "
    "The L1 penalty is divided by C in effect, so with a tiny C the cheapest solution is to "
    "switch off nearly every feature.",
    "With C = 10 the model is almost unregularized: few zero coefficients and the best "
    "accuracy. Going down to C = 0.01, sparsity grows a lot and accuracy suffers. Why: L1 "
    "pushes small weights to exactly zero, and the push is stronger when C is small.",
    "As I increase C the number of zero coefficients drops and accuracy gets a bit better; as I "
    "decrease C it is the other way around. The regularization term grows relative to the data "
    "term when C is small, so the fit sacrifices accuracy to keep the weights sparse.",
]

TEXTS = {"q_confusion": CONFUSION, "q_modified_digit": MODIFIED, "q_l1_reading": L1_READING}

# Renamings a copier applied to honest_0's code (two copies), and to honest_3's.
RENAMES_A = {
    "z": "logits",
    "k": "cls",
    "out": "result",
    "rows": "r2",
    "flat": "f2",
    "shifted": "s",
    "e": "ex",
    "i": "row",
    "best": "winner",
    "gray": "g",
    "small": "tiny",
    "pixels": "arr",
    "floor": "lo",
    "peak": "top",
    "img": "im",
    "total": "mass",
    "r": "cy",
    "c": "cx",
    "moved": "out_img",
    "coefs": "w",
    "zero_count": "n",
    "value": "v",
    "table": "data",
    "m": "model",
}
RENAMES_B = {
    "z": "scores",
    "k": "j",
    "out": "res",
    "rows": "mat",
    "flat": "view",
    "shifted": "d",
    "e": "expd",
    "i": "n",
    "best": "idx",
    "gray": "grey_img",
    "small": "img28",
    "pixels": "px",
    "floor": "base",
    "peak": "mx",
    "img": "arr",
    "total": "s",
    "r": "ry",
    "c": "rx",
    "moved": "shifted",
    "coefs": "flat_coefs",
    "zero_count": "count",
    "value": "w",
    "table": "cols",
    "m": "fitted",
}
RENAMES_C = {
    "z": "vals",
    "log_probs": "lp",
    "im": "photo",
    "a": "arr",
    "threshold": "cutoff",
    "m": "biggest",
}


def rename(source: str, mapping: dict[str, str]) -> str:
    """``source`` with each name of ``mapping`` renamed where it is a name, not an attribute
    or a keyword argument's name."""

    def swap(match: re.Match) -> str:
        return mapping.get(match.group(0), match.group(0))

    return re.sub(r"(?<![\w.\"])[A-Za-z_]\w*(?![\w\"]|=[^=])", swap, source)


def add_comments(source: str, seed: int) -> str:
    """``source`` with comment lines, trailing comments and blank lines added."""
    rng = np.random.default_rng(seed)
    remarks = ["compute it", "see the lecture notes", "TODO check shapes", "step", "works now"]
    out = []
    for line in source.splitlines():
        indent = line[: len(line) - len(line.lstrip())]
        if line.strip() and rng.random() < 0.4:
            out.append(f"{indent}# {remarks[int(rng.integers(len(remarks)))]}")
        if line.strip() and not line.rstrip().endswith((",", "(", "[", "{")) and rng.random() < 0.3:
            line = f"{line}  # {remarks[int(rng.integers(len(remarks)))]}"
        out.append(line)
        if rng.random() < 0.15:
            out.append("")
    return "\n".join(out) + "\n"


def respace(source: str) -> str:
    """``source`` with its spacing changed (no spaces after commas or around ``=``)."""
    return source.replace(", ", ",").replace(" = ", "=")


def edited(text: str, edits: list[tuple[str, str]]) -> str:
    """A written answer with small edits: each (old, new) replaced once."""
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


@dataclass
class Corpus:
    """The notebooks written, and which answers were copied from which."""

    folder: Path
    names: list[str] = field(default_factory=list)
    planted: set[tuple[str, str, str]] = field(default_factory=set)  # (question, a, b), a < b
    too_short: set[tuple[str, str, str]] = field(default_factory=set)  # planted, one line long
    blank: list[str] = field(default_factory=list)

    def plant(self, questions, *names: str) -> None:
        """Record that ``names`` share their answers to ``questions`` by copying."""
        for question in questions:
            for i, a in enumerate(names):
                for b in names[i + 1 :]:
                    self.planted.add((question, *sorted((a, b))))


@dataclass
class Work:
    """What one submission wrote: per question, code (prefix, body) or text; None: untouched."""

    code: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    l1: tuple[str, str] | None = None
    texts: dict[str, str] = field(default_factory=dict)
    scratch: bool = False  # adds a code cell and a markdown cell inside q_z's block
    no_predict_check: bool = False  # deleted the grader.check("q_predict") cell


def honest(index: int) -> Work:
    """The independent work of ``honest_<index>``."""
    return Work(
        code={q: variants[index] for q, variants in CODE.items()},
        l1=L1[index],
        texts={q: texts[index] for q, texts in TEXTS.items()},
        scratch=index == 5,
        no_predict_check=index == 6,
    )


def transformed(work: Work, change) -> Work:
    """``work`` with ``change(source)`` applied to every piece of its code."""

    def both(pair):
        return None if pair is None else (change(pair[0]) if pair[0] else "", change(pair[1]))

    return Work(code={q: both(p) for q, p in work.code.items()}, l1=both(work.l1))


def reordered(work: Work, seed: int) -> Work:
    """``work`` with its helper functions defined in another order, and comments added."""
    copy = transformed(work, lambda s: add_comments(s, seed))
    copy.code["q_preprocess"] = (
        "\n\n".join(add_comments(h, seed + 1) for h in reversed(PREPROCESS_HELPERS)),
        copy.code["q_preprocess"][1],
    )
    copy.code["q_l1_sweep"] = (
        "\n\n".join(add_comments(h, seed + 2) for h in reversed(SWEEP_HELPERS)),
        copy.code["q_l1_sweep"][1],
    )
    return copy


def _fill_code(source: str, question: str, work: Work) -> str:
    """A handed-out answer cell with a submission's code in place of ``...``."""
    if question == "q_l1":
        if work.l1 is None:
            return source
        model, body = work.l1
        source = source.replace("clf_l1 = ...", model, 1)
        source = source.replace(
            "n_zero = ...\nn_zero_l1 = ...",
            "n_zero = count_zero_coefs(clf)\nn_zero_l1 = count_zero_coefs(clf_l1)",
        )
        return source.replace("    ...\n", _body(body), 1)
    variant = work.code.get(question)
    if variant is None:
        return source
    prefix, body = variant
    if "    ...\n" not in source:
        source += "\n"
    source = source.replace("    ...\n", _body(body), 1)
    if prefix:
        at = source.index("def ")
        source = source[:at] + prefix.strip("\n") + "\n\n\n" + source[at:]
    return source


def notebook(work: Work) -> dict:
    """The handed-out notebook, filled in with ``work``."""
    nb = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    cells, out, question = nb["cells"], [], None
    for cell in cells:
        source = "".join(cell["source"])
        named = (
            re.search(r"(?i)question \(`(q_\w+)`", source)
            if cell["cell_type"] == "markdown"
            else None
        )
        if named:
            question = named.group(1)
        tags = cell.get("metadata", {}).get("tags", [])
        if "otter_answer_cell" in tags and question in CODE_QUESTIONS:
            source = _fill_code(source, question, work)
        elif "otter_answer_cell" in tags and question in work.texts:
            source = work.texts[question]
        if work.no_predict_check and source == 'grader.check("q_predict")':
            continue
        out.append({**cell, "source": source})
        if work.scratch and question == "q_z" and "otter_answer_cell" in tags:
            out.append(_cell("code", "scratch-code", "print(z.shape, z.dtype)\nz.max() - z.min()"))
            out.append(_cell("markdown", "scratch-note", "I checked the shape of `z` above."))
    nb["cells"] = out
    return nb


def _cell(kind: str, cell_id: str, source: str) -> dict:
    cell = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def build_corpus(folder: Path) -> Corpus:
    """Write the corpus's notebooks into ``folder`` (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(folder)
    works = {f"honest_{i}": honest(i) for i in range(8)}
    code_questions = [*CODE_QUESTIONS]

    works["copy_renamed"] = transformed(works["honest_0"], lambda s: rename(s, RENAMES_A))
    works["copy_renamed"].texts["q_modified_digit"] = edited(
        MODIFIED[0],
        [
            ("My photo of a 7", "My picture of a 7"),
            ("as I expected", "like I thought"),
            ("which pushed", "and that pushed"),
        ],
    )
    works["copy_renamed_commented"] = transformed(
        works["honest_0"], lambda s: respace(add_comments(rename(s, RENAMES_B), seed=7))
    )
    corpus.plant(code_questions, "honest_0", "copy_renamed", "copy_renamed_commented")
    corpus.plant(["q_modified_digit"], "honest_0", "copy_renamed")

    works["copy_reordered"] = reordered(works["honest_1"], seed=11)
    corpus.plant(code_questions, "honest_1", "copy_reordered")
    # honest_1's q_predict is one line, ``return classes[np.argmax(probs)]``: no evidence.
    corpus.too_short.add(("q_predict", "copy_reordered", "honest_1"))

    works["copy_commented"] = transformed(
        works["honest_2"], lambda s: add_comments(respace(s), seed=13)
    )
    corpus.plant(code_questions, "honest_2", "copy_commented")

    partial = transformed(works["honest_3"], lambda s: rename(s, RENAMES_C))
    works["copy_partial"] = Work(code={q: partial.code[q] for q in ("q_softmax", "q_preprocess")})
    corpus.plant(["q_softmax", "q_preprocess"], "honest_3", "copy_partial")

    works["copy_written"] = Work(
        texts={
            "q_confusion": edited(
                CONFUSION[4],
                [
                    ("Zero and one", "0 and 1"),
                    ("hardest ones", "most difficult"),
                    ("I see that", "We see that"),
                    ("without any knowledge of", "with no idea of"),
                ],
            ),
            "q_l1_reading": L1_READING[5],
            "q_modified_digit": "I tried a 6 with a very small loop; the model said 0, as I "
            "thought it would, since the loop pixels are blue for 0.",
        }
    )
    corpus.plant(["q_confusion"], "honest_4", "copy_written")
    corpus.plant(["q_l1_reading"], "honest_5", "copy_written")

    works["blank_0"] = Work()
    works["blank_1"] = Work()
    corpus.blank = ["blank_0.ipynb", "blank_1.ipynb"]

    for name, work in sorted(works.items()):
        path = folder / f"{name}.ipynb"
        path.write_text(json.dumps(notebook(work), indent=1, ensure_ascii=False) + "\n")
        corpus.names.append(path.name)
    corpus.planted = {(q, f"{a}.ipynb", f"{b}.ipynb") for q, a, b in corpus.planted}
    corpus.too_short = {(q, f"{a}.ipynb", f"{b}.ipynb") for q, a, b in corpus.too_short}
    return corpus


if __name__ == "__main__":
    built = build_corpus(Path(sys.argv[1]))
    print(f"wrote {len(built.names)} notebooks to {built.folder}; {len(built.planted)} planted")
