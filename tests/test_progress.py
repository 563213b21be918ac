import time

from napari_midnet.progress import Eta, clock


def test_eta_paces_only_the_work_done_since_the_first_report():
    """A run resumed at step 500 must not count those 500 steps as done in no time."""
    eta = Eta()
    assert eta.remaining(500, 1000) is None  # no pace yet
    time.sleep(0.05)
    seconds = eta.remaining(501, 1000)
    assert seconds >= 0.05 * 499 * 0.9  # one step took >= 50 ms, 499 remain
    assert eta.remaining(1000, 1000) == 0


def test_clock():
    assert clock(None) == "-:--"
    assert clock(65.9) == "1:05"
    assert clock(3725) == "1:02:05"
