"""The one table of error answers: looked up along the class hierarchy, never a raw placeholder."""

from __future__ import annotations

from b24.errors import B24Error, FlowError, RateLimited
from core.errors import Answer
from services.errors import ANSWERS, REFUSED, FlowNotVisible


def test_the_most_specific_class_answers() -> None:
    assert ANSWERS.answer_for(RateLimited("QUERY_LIMIT_EXCEEDED")).code == "rate_limited"
    assert ANSWERS.answer_for(B24Error("SOMETHING_NEW")) is REFUSED  # an unknown code still has an answer
    refused_read = FlowNotVisible(FlowError("0", "Zugriff verweigert", 400))
    assert ANSWERS.answer_for(refused_read).status == 404


def test_an_answer_never_shows_its_placeholder(app) -> None:
    # Before: "Bitrix24 refused the change: %(reason)s" reached the page when the reason was empty.
    with app.test_request_context():
        assert "%(reason)s" not in REFUSED.text("")
        assert REFUSED.text("Unbekannter Fehler").endswith("Unbekannter Fehler")
        assert Answer(400, "x", "100% sure").text("") == "100% sure"  # no formatting without a placeholder
