"""`make up` with port 8080 (or the one asked for) taken: one clear line and the way out, at once,
before anything starts (it used to start moto and airflow standalone, then time out after 180 s)."""

from __future__ import annotations

import socket

from human_review_dev.up import port_busy, run_up


def _listener(host: str = "127.0.0.1") -> socket.socket:
    s = socket.socket()
    s.bind((host, 0))
    s.listen()
    return s


def test_busy_port_gives_one_line_and_another_port(tmp_path, capsys):
    with _listener() as taken:
        port = taken.getsockname()[1]
        assert port_busy(port) is not None
        code = run_up(port=port, home=tmp_path / "home")
    out = capsys.readouterr().out
    assert code == 2
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert f"port {port} is already in use" in lines[0]
    assert "make up PORT=" in lines[0] and "--port" in lines[0]
    suggested = int(lines[0].split("make up PORT=")[1].split()[0])
    assert suggested != port and port_busy(suggested) is None
    assert not (tmp_path / "home").exists()  # nothing started, nothing written


def test_listener_on_any_address_counts_and_a_free_port_does_not():
    with _listener("0.0.0.0") as taken:
        assert port_busy(taken.getsockname()[1])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert port_busy(free) is None


def test_start_up_time_is_this_machines_and_the_first_start_is_kept(tmp_path):
    from human_review_dev.up import _first_start, _record_startup, _startup_note

    assert "first start" in _startup_note(tmp_path)
    _record_startup(tmp_path, 73.4)
    assert _startup_note(tmp_path) == "the last start here took 73 s"
    first = _first_start(tmp_path)
    assert _first_start(tmp_path) == first  # a restart keeps the stack's start date
    from human_review.dag_factory import start_date

    assert start_date({"HUMAN_REVIEW_START_DATE": first}).tzinfo is not None
