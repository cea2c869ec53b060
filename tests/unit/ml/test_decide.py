"""The single-row decision rule serving uses gives the labels `decide` gives."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from weir.ml.metrics import decide, decide_one

# Few distinct values, so ties and probabilities equal to the threshold come up often.
probability = st.sampled_from([0.0, 0.25, 0.5, 0.5000001, 0.75, 1.0, float("nan")])
labels = st.one_of(
    st.lists(st.integers(-3, 3), min_size=2, max_size=5, unique=True),
    st.lists(st.text(max_size=3), min_size=2, max_size=5, unique=True),
    st.just([False, True]),
)


@given(
    labels.flatmap(
        lambda c: st.tuples(st.just(c), st.lists(probability, min_size=len(c), max_size=len(c)))
    ),
    st.one_of(st.none(), st.sampled_from([0.25, 0.5, 0.75])),
)
def test_one_row_is_decided_as_decide_decides_it(
    case: tuple[list[object], list[float]], threshold: float | None
) -> None:
    classes, probabilities = case
    expected = decide(np.asarray([probabilities]), classes, threshold).tolist()[0]
    got = decide_one(probabilities, classes, threshold)
    assert got == expected and type(got) is type(expected)
