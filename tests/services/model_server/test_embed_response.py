"""Decoding /api/embed answers: what json.loads gives, or a clear refusal."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allma_desktop.errors import OllamaError
from allma_desktop.services.model_server.embed_response import decode_embeddings

finite = st.floats(allow_nan=False, allow_infinity=False, width=32)


@given(
    dimension=st.integers(min_value=1, max_value=6),
    rows=st.integers(min_value=0, max_value=5),
    data=st.data(),
    model=st.text(max_size=20),
    indent=st.sampled_from([None, 1, 2]),
    embeddings_first=st.booleans(),
)
def test_decoding_matches_the_standard_library(
    dimension: int,
    rows: int,
    data: st.DataObject,
    model: str,
    indent: int | None,
    embeddings_first: bool,
) -> None:
    row = st.lists(finite, min_size=dimension, max_size=dimension)
    vectors = data.draw(st.lists(row, min_size=rows, max_size=rows))
    body = {"embeddings": vectors, "model": model, "total_duration": 12}
    if not embeddings_first:
        body = {"model": model, "total_duration": 12, "embeddings": vectors}
    text = json.dumps(body, indent=indent)

    assert decode_embeddings(text) == json.loads(text)["embeddings"]
    assert decode_embeddings(text.encode()) == json.loads(text)["embeddings"]


def test_the_word_embeddings_inside_a_string_does_not_mislead_the_decoder() -> None:
    text = json.dumps({"model": ',"embeddings":[[9]]', "embeddings": [[1.5, 2.0]]})

    assert decode_embeddings(text) == [[1.5, 2.0]]


def test_integers_in_an_answer_come_back_as_floats() -> None:
    vectors = decode_embeddings(b'{"embeddings":[[0,1],[2,-3]]}')

    assert vectors == [[0.0, 1.0], [2.0, -3.0]]
    assert all(isinstance(value, float) for row in vectors for value in row)


def test_an_answer_that_is_not_json_is_a_decode_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        decode_embeddings('{"embeddings":[[1.0, 2.0], oops]}')


@pytest.mark.parametrize(
    "text",
    [
        '{"model": "x"}',
        '{"embeddings": 3}',
        '{"embeddings": [1, 2]}',
        '{"embeddings": [[1, 2], [3]]}',
        '{"embeddings": [[1, null]]}',
        '{"embeddings": [[1, {"a": 2}]]}',
        "[[1, 2]]",
    ],
)
def test_an_answer_without_a_table_of_vectors_says_so(text: str) -> None:
    with pytest.raises(OllamaError, match="embedding"):
        decode_embeddings(text)
