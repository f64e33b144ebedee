"""`nlp_apps.threads`: how many threads a process takes, and how training jobs on one machine share the cores."""

import json
import os
import subprocess
import sys

import pytest
import torch

from nlp_apps import threads
from nlp_apps.threads import JobBoard, ThreadSharing, choose_threads, configure_threads

THREAD_VARIABLES = ("NLP_APPS_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "LOCAL_WORLD_SIZE")


@pytest.fixture(autouse=True)
def keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


# ---- choose_threads -------------------------------------------------------------------------------


def test_without_settings_a_process_takes_its_cores_and_may_rebalance():
    assert choose_threads(env={}, cores=4) == (4, "4 cores this process may run on", True)
    assert choose_threads(env={"NLP_APPS_THREADS": " ", "OMP_NUM_THREADS": ""}, cores=2)[::2] == (2, True)  # blank: unset


def test_the_default_counts_the_cores_this_process_may_run_on(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: {0, 2, 5})
    assert choose_threads(env={}) == (3, "3 cores this process may run on", True)


@pytest.mark.parametrize(("env", "expected"), [
    ({"NLP_APPS_THREADS": "3"}, (3, "NLP_APPS_THREADS")),
    ({"OMP_NUM_THREADS": "2"}, (2, "OMP_NUM_THREADS")),
    ({"NLP_APPS_THREADS": "3", "OMP_NUM_THREADS": "2"}, (3, "NLP_APPS_THREADS")),  # ours wins
])
def test_an_explicit_setting_wins_and_is_not_automatic(env, expected):
    assert choose_threads(env=env, cores=4) == (*expected, False)


def test_under_torchrun_the_cores_are_shared_by_the_local_processes():
    # torchrun sets OMP_NUM_THREADS=1 itself, so it says nothing about what the user wants
    count, why, automatic = choose_threads(env={"LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": "1"}, cores=8)
    assert (count, automatic) == (4, False) and "8 cores shared by 2 local processes" in why
    assert choose_threads(env={"LOCAL_WORLD_SIZE": "4"}, cores=2)[0] == 1  # at least one each
    assert choose_threads(env={"LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": "x"}, cores=8)[0] == 4  # not even read


def test_nlp_apps_threads_wins_under_torchrun_too():
    env = {"LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": "1", "NLP_APPS_THREADS": "3"}
    assert choose_threads(env=env, cores=8) == (3, "NLP_APPS_THREADS", False)


@pytest.mark.parametrize("name", ["NLP_APPS_THREADS", "OMP_NUM_THREADS"])
@pytest.mark.parametrize(
    ("value", "message"), [("x", "a whole number"), ("0", "at least 1"), ("-2", "at least 1"), ("1.5", "a whole number")]
)
def test_bad_thread_counts_are_refused_naming_the_variable(name, value, message):
    with pytest.raises(ValueError, match=f"{name} must be {message}"):
        choose_threads(env={name: value}, cores=4)


# ---- configure_threads ----------------------------------------------------------------------------


def test_configure_threads_fixes_the_count_for_this_process_and_its_children(monkeypatch):
    for name in THREAD_VARIABLES[:3]:
        monkeypatch.setenv(name, "7")  # monkeypatch restores (here: removes) them after the test
    configure_threads(2)
    assert all(os.environ[name] == "2" for name in THREAD_VARIABLES[:3])
    assert torch.get_num_threads() == 2
    assert choose_threads(cores=8) == (2, "NLP_APPS_THREADS", False)


def test_configure_threads_refuses_zero(monkeypatch):
    monkeypatch.setenv("NLP_APPS_THREADS", "5")
    with pytest.raises(ValueError, match="--threads must be at least 1"):
        configure_threads(0)
    assert os.environ["NLP_APPS_THREADS"] == "5"  # nothing changed


# ---- the job board --------------------------------------------------------------------------------


def write_entry(folder, pid, cores, name=None):
    path = folder / f"{name or pid}.json"
    path.write_text(json.dumps({"pid": pid, "cores": cores}))
    return path


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_jobs_on_shared_cores_count_and_dead_or_disjoint_ones_do_not(tmp_path):
    board = JobBoard(tmp_path / "board")
    board.cores = {0, 1}
    board.register()
    assert json.loads(board.entry.read_text()) == {"pid": os.getpid(), "cores": [0, 1]}
    assert board.competing_jobs() == 1  # alone: its own entry is not a competitor

    other = write_entry(board.folder, os.getppid(), [1, 2])  # a live process on an overlapping core
    assert board.competing_jobs() == 2

    dead = write_entry(board.folder, dead_pid(), [0, 1])
    disjoint = write_entry(board.folder, os.getppid(), [4, 5], name="disjoint")
    broken = board.folder / "broken.json"
    broken.write_text("{half")
    assert board.competing_jobs() == 2
    assert not dead.exists()  # a stale entry is removed
    assert disjoint.exists() and broken.exists() and other.exists()

    board.unregister()
    assert not board.entry.exists()
    board.unregister()  # twice is fine


def test_a_board_in_a_folder_it_cannot_create_leaves_the_job_alone(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    board = JobBoard(blocker / "board")  # a folder under a file cannot exist
    board.register()
    assert board.competing_jobs() == 1
    board.unregister()


# ---- ThreadSharing --------------------------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class BoardStub:
    def __init__(self, cores=4):
        self.cores = set(range(cores))
        self.jobs, self.registered, self.counted = 1, False, 0
        self.entry = object()  # what a real board names by this process's id

    def register(self):
        self.registered = True

    def unregister(self):
        self.registered = False

    def competing_jobs(self):
        self.counted += 1
        return self.jobs

    def machine_load(self):
        return self.load

    load = 0.0  # the 1-minute load average it reports


@pytest.fixture
def four_cores(monkeypatch):
    """Automatic threads on a (pretend) four-core machine."""
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: {0, 1, 2, 3})


def test_jobs_take_their_share_and_take_everything_back_when_alone(four_cores):
    clock, board, log = FakeClock(), BoardStub(), []
    sharing = ThreadSharing(log=log.append, board=board, clock=clock)
    assert (sharing.full, sharing.enabled) == (4, True) and torch.get_num_threads() == 4
    with sharing:
        assert board.registered and board.counted == 1 and log == []

        board.jobs = 2
        clock.now = threads.REBALANCE_EVERY_S - 0.1
        sharing.check()
        assert board.counted == 1 and torch.get_num_threads() == 4  # too soon to look again

        clock.now = threads.REBALANCE_EVERY_S
        sharing.check()
        assert board.counted == 2 and torch.get_num_threads() == 2 and sharing.current == 2
        assert log == ["threads: 2 (2 nlp-apps jobs share 4 cores)"]

        clock.now += 1
        board.jobs = 1
        sharing.check()
        assert torch.get_num_threads() == 2  # still too soon

        clock.now += threads.REBALANCE_EVERY_S
        sharing.check()
        assert torch.get_num_threads() == 4 and log[-1] == "threads: 4 (alone again)"

        clock.now += threads.REBALANCE_EVERY_S
        sharing.check()
        assert len(log) == 2  # no change, no message
    assert not board.registered and torch.get_num_threads() == 4


def test_a_share_is_at_least_one_thread_and_leaving_restores_the_full_count(four_cores, monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: {0, 1})
    clock, board = FakeClock(), BoardStub(cores=2)
    board.jobs = 5
    with ThreadSharing(board=board, clock=clock) as sharing:  # no log: quiet
        assert sharing.full == 2 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_explicit_threads_are_never_rebalanced(four_cores, monkeypatch):
    monkeypatch.setenv("NLP_APPS_THREADS", "2")
    clock, board, log = FakeClock(), BoardStub(), []
    board.jobs = 2
    with ThreadSharing(log=log.append, board=board, clock=clock) as sharing:
        assert not sharing.enabled and not board.registered
        for _ in range(3):
            clock.now += 2 * threads.REBALANCE_EVERY_S
            sharing.check()
        assert torch.get_num_threads() == 2 and board.counted == 0 and log == []


def test_under_torchrun_threads_are_never_rebalanced(four_cores, monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    board = BoardStub()
    board.jobs = 2
    with ThreadSharing(board=board, clock=FakeClock()) as sharing:
        assert (sharing.full, sharing.enabled, board.registered, board.counted) == (2, False, False, 0)


def test_two_jobs_on_a_real_board_share_the_cores(four_cores, tmp_path):
    clock, log = FakeClock(), []
    board = JobBoard(tmp_path / "board")
    board.machine_load = lambda: 0.0  # whatever else this machine runs must not decide this test
    with ThreadSharing(log=log.append, board=board, clock=clock) as sharing:
        assert board.entry.is_file() and torch.get_num_threads() == 4
        other = write_entry(board.folder, os.getppid(), [2, 3])
        clock.now += threads.REBALANCE_EVERY_S
        sharing.check()
        assert torch.get_num_threads() == 2 and log == ["threads: 2 (2 nlp-apps jobs share 4 cores)"]
        other.unlink()
        clock.now += threads.REBALANCE_EVERY_S
        sharing.check()
        assert torch.get_num_threads() == 4
    assert not board.entry.exists()


def test_other_work_seen_in_the_load_average_takes_its_cores_and_gives_them_back(four_cores):
    clock, board, log = FakeClock(), BoardStub(), []
    with ThreadSharing(log=log.append, board=board, clock=clock) as sharing:
        assert torch.get_num_threads() == 4  # load 0: nothing else runs
        board.load = 4 + 2.0  # this job's 4 busy threads and 2 more of someone else's
        clock.now += threads.REBALANCE_EVERY_S
        sharing.check()
        assert torch.get_num_threads() == 2 and log == ["threads: 2 (other work keeps about 2.0 of 4 cores busy)"]
        board.load = 2 + 2.0  # still there: no change
        clock.now += threads.REBALANCE_EVERY_S
        sharing.check()
        assert torch.get_num_threads() == 2 and len(log) == 1
        board.load = 2.2  # the other work ended: only this job's own threads remain
        clock.now += threads.REBALANCE_EVERY_S
        sharing.check()
        assert torch.get_num_threads() == 4 and log[-1] == "threads: 4 (alone again)"


def test_the_board_and_the_load_together_take_the_smaller_share(four_cores):
    clock, board = FakeClock(), BoardStub()
    board.jobs, board.load = 2, 4 + 3.0  # two jobs on the board, and 3 cores busy with other work
    with ThreadSharing(board=board, clock=clock):
        assert torch.get_num_threads() == 1  # the load's share (1) is below the board's (2)


def test_sharing_blocks_nest_the_job_leaves_the_board_with_the_outermost(four_cores):
    """A demo shares the cores around its evaluation, and its training (inside) shares them too."""
    clock, board = FakeClock(), BoardStub()
    board.jobs = 2
    with ThreadSharing(board=board, clock=clock):
        assert board.registered and torch.get_num_threads() == 2
        with ThreadSharing(board=board, clock=clock) as inner:
            assert inner.full == 4 and torch.get_num_threads() == 2
            board.jobs = 4
            clock.now += threads.REBALANCE_EVERY_S
            inner.check()
            assert torch.get_num_threads() == 1
        assert board.registered and torch.get_num_threads() == 2  # the outer block's share again
    assert not board.registered and torch.get_num_threads() == 4
