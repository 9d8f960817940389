"""The progress bar: silent off a terminal, one redrawn line on it, out of the way of logs."""

import io
import logging

from xvanish.report.progress import ProgressBar

ERASE = "\r\x1b[K"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_silent_when_not_a_terminal():
    stream = io.StringIO()
    with ProgressBar(total=3, stream=stream) as bar:
        assert list(bar.wrap([1, 2, 3])) == [1, 2, 3]
    assert stream.getvalue() == ""


def test_counts_steps_and_erases_itself_on_a_terminal():
    stream = Terminal()
    events = []
    with ProgressBar(total=2, stream=stream, width=4) as bar:
        for item in bar.wrap(["a", "b"], label=lambda item: f"depth={item}", after=lambda: events.append(bar.done)):
            events.append(item)
    text = stream.getvalue()
    assert events == ["a", 1, "b", 2]  # `after` runs once an item's work is done
    assert "[----] 0/2 depth=a" in text and "[##--] 1/2 depth=b" in text and "[####] 2/2" in text
    assert text.endswith(ERASE) and "\n" not in text


def test_log_records_erase_the_bar_first():
    stream = Terminal()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with ProgressBar(total=2, stream=stream) as bar:
            for _ in bar.wrap([1]):
                logging.getLogger("xvanish.test").warning("hello")
        assert handler.filters == []  # detached when the bar closes
    finally:
        root.removeHandler(handler)
    text = stream.getvalue()
    assert ERASE + "hello\n" in text
