"""Commands pointed at something that is not a working opsloop server say so in one line, never a traceback."""

from __future__ import annotations

import pytest

from opsloop.cli import main

# one command of each group that talks to a server
_COMMANDS = [["incidents", "list"], ["incidents", "show", "1"], ["incidents", "ack", "1"], ["models", "signals"],
             ["models", "drift", "churn"], ["runs", "list"], ["experiments", "show", "1"], ["runs", "show", "abc"]]


@pytest.mark.parametrize("command", [*_COMMANDS, ["serve", "models:/churn@champion"],
                                     ["predict", "models:/churn/1", "-i", __file__, "-o", "out.csv"]], ids=" ".join)
@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:port", "http://"])
def test_a_malformed_url_is_a_usage_error_naming_the_option(command: list[str], url: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--url", url, *command])
    out, err = capsys.readouterr()
    assert code == 2 and "Invalid value for '--url'" in err and url in err, err


@pytest.mark.parametrize("where", [["runs", "list", "--url"], ["incidents", "--url"], ["serve", "--report-to"]])
def test_a_commands_own_url_option_is_checked_too(where: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    args = {"runs": [], "incidents": ["list"], "serve": ["models:/churn/1", "--monitor-store", "memory://"]}[where[0]]
    code = main([*where, "http://[::1", *args])
    assert code == 2 and f"Invalid value for '{where[-1]}'" in capsys.readouterr().err


@pytest.mark.parametrize("command", _COMMANDS, ids=" ".join)
def test_a_web_page_instead_of_opsloop_is_an_error_line(command: list[str], web_page_url: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--url", web_page_url, *command])
    out, err = capsys.readouterr()
    assert code == 1 and err.startswith("error: ") and "opsloop" in err and len(err.splitlines()) == 1, err
