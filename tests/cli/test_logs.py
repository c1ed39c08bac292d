"""`keel logs`: lines of every process interleaved in time order, one process, one task, --follow."""

from __future__ import annotations

from .conftest import TASK_ID, put_log_lines


def write(logs, process, task, lines, start_ms):
    put_log_lines(logs, f"/keel/staging/{process}", f"keel/{process}/{task}", lines, start_ms)


def test_lines_of_all_processes_interleaved_newest_last(keel, logs_client, outputs_file):
    base = keel.wall_clock * 1000
    start = int(base) - 120_000
    write(logs_client, "web", "aaaaaaaa11", ["GET / 200", "GET /health 200"], start)  # t, t+1
    write(logs_client, "worker", "bbbbbbbb22", ["task received"], start)  # t (same ms as web's first)
    write(logs_client, "web", "aaaaaaaa11", ["POST /documents 201"], start + 5_000)
    write(logs_client, "beat", "cccccccc33", ["Scheduler: Sending due task"], start + 2_000)
    write(logs_client, "release", "dddddddd44", ["too old"], start - 20 * 60_000)  # before --since 10m

    result = keel("logs", "--outputs", str(outputs_file()))

    assert result.code == 0, result.err
    lines = result.out.splitlines()
    messages = [line.split(" ", 2)[2] for line in lines]
    assert messages[-2:] == ["Scheduler: Sending due task", "POST /documents 201"]
    assert set(messages[:3]) == {"GET / 200", "GET /health 200", "task received"}
    assert messages.index("GET / 200") < messages.index("GET /health 200")
    assert "too old" not in result.out
    assert lines[-1].split(" ")[1] == "web[aaaaaaaa]"


def test_one_process_only_and_since(keel, logs_client, outputs_file):
    start = int(keel.wall_clock * 1000) - 90 * 60_000
    write(logs_client, "web", "aaaaaaaa11", ["an hour and a half ago"], start)
    write(logs_client, "worker", "bbbbbbbb22", ["worker line"], start)

    result = keel("logs", "--outputs", str(outputs_file()), "web", "--since", "2h")

    assert result.code == 0, result.err
    assert result.out.splitlines()[0].endswith("web[aaaaaaaa] an hour and a half ago")
    assert "worker line" not in result.out


def test_one_task(keel, logs_client, outputs_file):
    start = int(keel.wall_clock * 1000) - 60_000
    write(logs_client, "release", TASK_ID, ["mine"], start)
    write(logs_client, "release", "ffffffffff", ["another task"], start)

    result = keel("logs", "--outputs", str(outputs_file()), "--task", TASK_ID)

    assert [line.split(" ", 2)[2] for line in result.out.splitlines()] == ["mine"]


def test_follow_prints_new_lines_once_until_ctrl_c(keel, logs_client, outputs_file):
    start = int(keel.wall_clock * 1000) - 60_000
    write(logs_client, "worker", "bbbbbbbb22", ["one"], start)
    keel.time.at_sleep(1, lambda: write(logs_client, "worker", "bbbbbbbb22", ["two"], start + 1_000))
    keel.time.at_sleep(2, lambda: write(logs_client, "web", "aaaaaaaa11", ["three"], start + 2_000))

    def ctrl_c():
        raise KeyboardInterrupt

    keel.time.at_sleep(4, ctrl_c)
    result = keel("logs", "--outputs", str(outputs_file()), "--follow")

    assert result.code == 0
    assert [line.split(" ", 2)[2] for line in result.out.splitlines()] == ["one", "two", "three"]
    assert "no log group /keel/staging/release (release), " in result.err  # noted, not fatal


def test_bad_since_and_missing_group(keel, logs_client, outputs_file):
    bad = keel("logs", "--outputs", str(outputs_file()), "--since", "yesterday")
    assert bad.code == 2 and "--since 'yesterday' is not a duration" in bad.err

    missing = keel("logs", "--outputs", str(outputs_file()), "beat")
    assert missing.code == 1
    assert "log group /keel/staging/beat (beat) does not exist" in missing.err
    assert "Traceback" not in missing.err
