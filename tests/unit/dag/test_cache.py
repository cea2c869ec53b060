from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from weir.dag import InputState, cache_key, explain_change

names = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
digests = st.text(alphabet="0123456789abcdef", min_size=8, max_size=8)
definitions = st.dictionaries(
    names, st.integers() | st.text(max_size=5) | st.booleans(), max_size=4
)
inputs_strategy = st.dictionaries(names, digests, max_size=4)


def key(
    definition: dict[str, Any], code: str, settings: dict[str, Any], inputs: dict[str, str]
) -> Any:
    return cache_key(
        definition=definition,
        code=code,
        settings=settings,
        inputs={
            name: InputState(digest, f"v{i}") for i, (name, digest) in enumerate(inputs.items())
        },
    )


@given(definitions, st.text(max_size=20), definitions, inputs_strategy)
def test_equal_inputs_give_equal_keys(
    definition: dict[str, Any], code: str, settings: dict[str, Any], inputs: dict[str, str]
) -> None:
    first = key(definition, code, settings, inputs)
    again = key(
        dict(reversed(list(definition.items()))),
        code,
        dict(settings),
        dict(reversed(list(inputs.items()))),
    )
    assert first.digest == again.digest


@given(definitions, st.text(max_size=20), definitions, inputs_strategy, st.data())
def test_any_change_gives_a_new_key_and_is_explained(
    definition: dict[str, Any],
    code: str,
    settings: dict[str, Any],
    inputs: dict[str, str],
    data: st.DataObject,
) -> None:
    before = key(definition, code, settings, inputs)
    part = data.draw(st.sampled_from(["definition", "code", "settings", "input", "new input"]))
    if part == "definition":
        after = key({**definition, "__changed__": 1}, code, settings, inputs)
        expected = "definition changed"
    elif part == "code":
        after = key(definition, code + "x", settings, inputs)
        expected = "code changed"
    elif part == "settings":
        after = key(definition, code, {**settings, "__changed__": True}, inputs)
        expected = "settings changed"
    elif part == "input" and inputs:
        name = data.draw(st.sampled_from(sorted(inputs)))
        after = key(definition, code, settings, {**inputs, name: inputs[name] + "0"})
        expected = f"input {name} changed"
    else:
        after = key(definition, code, settings, {**inputs, "zz_new": "feedbeef"})
        expected = "new input zz_new"
    assert after.digest != before.digest
    reasons = explain_change(before.as_record(), after)
    assert any(r.startswith(expected) for r in reasons), reasons


def test_removed_input_and_labels_in_explanations() -> None:
    before = cache_key(
        definition={},
        code="",
        settings={},
        inputs={"a": InputState("1111", "v1"), "b": InputState("2", "v0")},
    )
    after = cache_key(definition={}, code="", settings={}, inputs={"a": InputState("3333", "v2")})
    assert explain_change(before.as_record(), after) == [
        "input a changed (v1 -> v2)",
        "input b removed",
    ]


def test_input_labels_do_not_enter_the_key() -> None:
    """Labels are for people; only content fingerprints decide (early cut-off)."""
    one = cache_key(definition={}, code="", settings={}, inputs={"a": InputState("f00d", "v1")})
    two = cache_key(definition={}, code="", settings={}, inputs={"a": InputState("f00d", "v7")})
    assert one.digest == two.digest
