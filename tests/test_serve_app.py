"""The HTTP API on a real server (tiny model): results, every bad-input case, the page, CORS."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from factsift.serve.app import MAX_TEXTS, STATIC, SentenceRecord, create_app
from factsift.writers import sentence_records

from conftest import EXAMPLE, LABELS
from serving import post_json, request, running_server

TEXT = "Prices rose 3% in May. “We will act,” she said. This is a disaster."


@pytest.fixture(scope="module")
def server(varied_classifier):
    with running_server(create_app(varied_classifier)) as address:
        yield address


def error_of(address, body: bytes, headers: dict | None = None) -> tuple[int, str]:
    status, response_headers, content = request(address, "POST", "/v1/label", body, headers)
    assert response_headers["content-type"] == "application/json"
    return status, json.loads(content)["detail"]


# ---- results ----------------------------------------------------------------------------------
def test_one_text_gives_the_sentence_records_of_label_text(server, varied_classifier):
    status, body = post_json(server, {"text": TEXT})
    assert status == 200
    expected = sentence_records("", varied_classifier.label_text(TEXT))
    assert [{**r, "scores": None, "score": None} for r in body["sentences"]] == [
        {**r, "scores": None, "score": None} for r in expected
    ]
    for got, want in zip(body["sentences"], expected):
        assert got["score"] == pytest.approx(want["score"], abs=1e-4)
        assert list(got["scores"]) == LABELS


def test_documented_fields_are_the_sentence_record_fields(varied_classifier):
    """The /docs schema and the JSONL writer cannot drift apart."""
    record = sentence_records("doc", varied_classifier.label_text(TEXT))[0]
    assert list(SentenceRecord.model_fields) == list(record)
    SentenceRecord.model_validate(record)


def test_many_texts_keep_their_order_and_ids(server, varied_classifier):
    texts = [TEXT, "", EXAMPLE.read_text(encoding="utf-8")]
    status, body = post_json(server, {"texts": texts, "ids": ["a", "b", "c"]})
    assert status == 200
    assert [document["id"] for document in body["documents"]] == ["a", "b", "c"]
    for document, text in zip(body["documents"], texts):
        assert [s["text"] for s in document["sentences"]] == [s.text for s in varied_classifier.label_text(text)]
        assert {s["doc_id"] for s in document["sentences"]} <= {document["id"]}
    status, body = post_json(server, {"texts": [TEXT, TEXT]})
    assert [document["id"] for document in body["documents"]] == ["0", "1"]


@pytest.mark.parametrize("text", ["", "   \n\n "])
def test_an_empty_text_has_no_sentences(server, text):
    assert post_json(server, {"text": text}) == (200, {"sentences": []})


def test_offsets_count_characters_beyond_the_basic_plane(server):
    text = "Fans cheered 🎉 loudly. The match ended 2-1."
    _, body = post_json(server, {"text": text})
    assert [text[s["start"]:s["end"]] for s in body["sentences"]] == [s["text"] for s in body["sentences"]]
    assert len(body["sentences"]) == 2


def test_concurrent_requests_each_get_their_own_documents(server, varied_classifier):
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"Item {i} costs {i} euros. It is a bargain, {i} times over." for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda text: post_json(server, {"text": text}), texts))
    for text, (status, body) in zip(texts, results):
        assert status == 200
        assert "".join(s["text"] for s in body["sentences"]).replace(" ", "") == text.replace(" ", "")


# ---- bad input: a JSON error naming the problem, never a 500 ----------------------------------
@pytest.mark.parametrize(("body", "fragment"), [
    (b'{"text": "unclosed', "body: Invalid JSON"),
    (b"", "body: Invalid JSON"),
    (b"[1, 2]", "body: Input should be an object"),
    (b"{}", "exactly one of 'text' and 'texts'"),
    (b'{"text": "a", "texts": ["b"]}', "exactly one of 'text' and 'texts'"),
    (b'{"text": 5}', "text: Input should be a valid string"),
    (b'{"texts": ["fine", 7]}', "texts[1]: Input should be a valid string"),
    (b'{"texts": "not a list"}', "texts: Input should be a valid array"),
    (b'{"texts": ["a", "b"], "ids": ["x"]}', "'ids' needs one id per entry of 'texts'"),
    (b'{"text": "a", "url": "http://example.org/"}', "url: Extra inputs are not permitted"),
    (b'{"text": "A line.\\n<html><body><p>x</p></body></html>"}', "text: line 2 holds HTML markup '<html'"),
    (b'{"texts": ["ok", "bad \\u0000 byte"]}', "texts[1]: line 1 holds control character"),
])
def test_bad_requests_get_422_naming_the_field(server, body, fragment):
    status, detail = error_of(server, body, {"Content-Type": "application/json"})
    assert status == 422
    assert fragment in detail


def test_invalid_utf8_gets_400(server):
    assert error_of(server, b'{"text": "caf\xe9"}') == (400, "request body is not valid UTF-8: byte 0xe9 at offset 13")


def test_a_body_over_the_limit_gets_413(server):
    big = json.dumps({"text": "Words. " * 450_000}).encode()  # about 3 MB
    status, detail = error_of(server, big)
    assert status == 413 and "over the limit of 1,000,000 bytes" in detail


def test_a_chunked_body_over_the_limit_gets_413(varied_classifier):
    """Without a Content-Length the limit holds while the body streams in."""
    with running_server(create_app(varied_classifier, max_body_bytes=1000)) as address:
        status, detail = error_of(address, iter([b'{"text": "', b"x" * 2000, b'"}']))  # sent chunked
    assert status == 413 and "1,000 bytes" in detail


def test_more_than_64_texts_gets_413(server):
    status, body = post_json(server, {"texts": ["A sentence."] * (MAX_TEXTS + 1)})
    assert status == 413 and body["detail"] == f"texts: {MAX_TEXTS + 1} texts, over the limit of {MAX_TEXTS} a request"
    assert post_json(server, {"texts": ["A sentence."] * MAX_TEXTS})[0] == 200


def test_clients_that_hang_up_do_not_hurt_other_requests(server):
    half_sent = socket.create_connection(server)
    half_sent.sendall(b"POST /v1/label HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"text\": \"Half")
    gone = socket.create_connection(server)
    body = json.dumps({"text": TEXT * 20}).encode()
    gone.sendall(b"POST /v1/label HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    gone.close()
    half_sent.close()
    time.sleep(0.2)
    status, body = post_json(server, {"text": TEXT})
    assert status == 200 and len(body["sentences"]) == 3


# ---- health, docs, page, security defaults ----------------------------------------------------
def test_health_names_model_labels_backend_and_version(server, varied_classifier):
    status, _, body = request(server, "GET", "/v1/health")
    health = json.loads(body)
    assert status == 200
    assert health["labels"] == LABELS and health["backend"] == "torch" and health["version"] == "0.1.0"
    assert health["model"] == Path(varied_classifier.source).name


def test_openapi_documents_the_request_and_both_response_shapes(server):
    assert request(server, "GET", "/docs")[0] == 200
    spec = json.loads(request(server, "GET", "/openapi.json")[2])
    operation = spec["paths"]["/v1/label"]["post"]
    assert set(operation["requestBody"]["content"]["application/json"]["schema"]["properties"]) == {
        "text", "texts", "ids"}
    assert {"SentencesResponse", "DocumentsResponse", "SentenceRecord"} <= set(spec["components"]["schemas"])
    assert {"200", "400", "413", "422"} <= set(operation["responses"])


def test_page_is_self_contained_and_sent_with_a_content_security_policy(server):
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and b'<textarea id="text"' in body
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "default-src 'none'" in headers["content-security-policy"]
    for name in ("index.html", "page.js", "page.css"):
        source = (STATIC / name).read_text(encoding="utf-8")
        assert "http://" not in source and "https://" not in source and "innerHTML" not in source, name
    assert b"<script>" not in body and b"style=" not in body  # nothing inline: the CSP forbids it


def test_no_cors_headers_unless_an_origin_is_allowed(server, varied_classifier):
    origin = {"Origin": "http://elsewhere.example", "Content-Type": "application/json"}
    _, headers, _ = request(server, "POST", "/v1/label", b'{"text": "Hi."}', origin)
    assert not any(name.startswith("access-control-") for name in headers)
    with running_server(create_app(varied_classifier, cors_origins=["http://elsewhere.example"])) as address:
        _, headers, _ = request(address, "POST", "/v1/label", b'{"text": "Hi."}', origin)
    assert headers["access-control-allow-origin"] == "http://elsewhere.example"


def test_unknown_paths_and_methods_get_json_errors(server):
    status, headers, body = request(server, "GET", "/v1/nothing")
    assert status == 404 and json.loads(body) == {"detail": "Not Found"}
    assert request(server, "GET", "/v1/label")[0] == 405
