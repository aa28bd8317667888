"""Body limits and authentication against real gunicorn: what the test client cannot show."""
import socket
import time

import pytest
import requests

LIMIT = 100_000


def raw_request(url, head, body_chunks=(), timeout=10):
    """Send a hand-made HTTP request; return (status, text) of the response."""
    host, port = url.replace("http://", "").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(head.encode())
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed early: what we want
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                part = s.recv(65536)
            except ConnectionResetError:
                break
            if not part:
                break
            data += part
            if b"\r\n\r\n" in data and b'"status"' in data:
                break
    status_line = data.split(b"\r\n", 1)[0].decode()
    return int(status_line.split()[1]), data.decode(errors="replace")


@pytest.fixture
def small_server(make_server):
    return make_server(env={"NN_MAX_BODY_BYTES": str(LIMIT)})


def test_413_before_the_body_is_read(small_server):
    head = ("POST /train HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {50 * 1024 * 1024}\r\n\r\n")
    status, text = raw_request(small_server.url, head)  # no body sent at all
    assert status == 413 and "application/problem+json" in text
    assert small_server.get("/healthz").status_code == 200


def test_50_megabyte_body(server):
    try:
        response = server.post("/train", data=b"[" + b"1," * (25 * 1024 * 1024) + b"1]",
                               headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert response.headers["Content-Type"] == "application/problem+json"
    except requests.ConnectionError:
        pass  # the server refused before the upload finished; it must still be healthy
    assert server.get("/healthz").status_code == 200


def test_chunked_body_over_the_limit(small_server):
    head = ("POST /train HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")
    piece = b'{"name": "' + b"x" * 10_000
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * 20 + [b"0\r\n\r\n"]
    status, text = raw_request(small_server.url, head, chunks)
    assert status == 413 and "application/problem+json" in text
    assert small_server.get("/healthz").status_code == 200


def test_chunked_body_under_the_limit_is_accepted(small_server):
    body = b'{"iterations": 10}'
    head = ("POST /train HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    status, _ = raw_request(small_server.url, head, [b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)])
    assert status == 202


def test_bearer_token(make_server):
    server = make_server(env={"NN_API_TOKEN": "s3cret-token"})
    assert server.get("/healthz").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0LXRva2Vu"}):
        response = server.get("/models", headers=headers)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.headers["Content-Type"] == "application/problem+json"
    good = {"Authorization": "Bearer s3cret-token"}
    assert server.get("/models", headers=good).status_code == 200
    assert server.post("/train", json={"iterations": 10}, headers=good).status_code == 202
    assert server.post("/train", json={"iterations": 10}).status_code == 401
    document = server.get("/openapi.json", headers=good).json()
    assert document["security"] == [{"bearer": []}]


def test_malformed_chunked_body_is_400(small_server):
    head = ("POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n")
    status, text = raw_request(small_server.url, head, [b"zz\r\nabc\r\n0\r\n\r\n"])
    assert status == 400 and "application/problem+json" in text
    assert small_server.get("/healthz").status_code == 200


def test_a_stalled_body_gets_408_and_frees_its_thread(make_server):
    server = make_server(env={"NN_BODY_TIMEOUT_SECONDS": "1"}, extra_args=["--threads", "1"])
    head = ("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n")
    started = time.monotonic()
    status, text = raw_request(server.url, head, [b'{"model_id"'])  # and then nothing more
    assert status == 408 and "application/problem+json" in text
    assert time.monotonic() - started < 5
    assert server.get("/healthz").status_code == 200


@pytest.mark.parametrize("head,status", [
    ("GET /models/" + "a" * 5000 + " HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + "b" * 9000 + "\r\n\r\n", 431),
    ("this is not http\r\n\r\n", 400),
    ("POST /train HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
])
def test_requests_gunicorn_cannot_parse_get_problem_json(server, head, status):
    got, text = raw_request(server.url, head)
    assert got == status and "application/problem+json" in text and "<html" not in text
    assert server.get("/healthz").status_code == 200
