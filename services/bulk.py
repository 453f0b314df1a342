"""Many flows at once ("Pause selected", "Resume selected"): one request, the user's own token.

The work is ``switching.switch_many`` (the same desired-state rule, locks and budget as a
single switch); this module bounds the request and says what happened in one sentence
("7 paused, 2 refused, 1 was already paused") in the user's language.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from flask_babel import ngettext

from services import switching
from services.errors import SwitchRefused, TooManyFlows
from services.switching import SwitchResult

#: flows one request may switch (the message of ``TooManyFlows`` says the number too)
MAX_FLOWS = 500

CHANGED, ALREADY, REFUSED, FAILED = "changed", "already", "refused", "failed"


def kind(result: SwitchResult) -> str:
    """What became of one flow: changed, already in the state, refused by Bitrix24, or failed."""
    if result.error is None:
        return CHANGED if result.changed else ALREADY
    return REFUSED if isinstance(result.error, SwitchRefused) else FAILED


@dataclass(frozen=True)
class BulkOutcome:
    desired: bool
    results: list[SwitchResult]  # in ascending flow id

    def counts(self) -> dict[str, int]:
        found = Counter(kind(result) for result in self.results)
        return {name: found[name] for name in (CHANGED, ALREADY, REFUSED, FAILED)}

    def summary(self) -> str:
        """One sentence in the user's language, e.g. "7 paused, 2 refused, 1 was already paused"."""
        counts = self.counts()
        if self.desired:
            changed = ngettext("%(num)d resumed", "%(num)d resumed", counts[CHANGED])
            already = ngettext("%(num)d was already on", "%(num)d were already on", counts[ALREADY])
        else:
            changed = ngettext("%(num)d paused", "%(num)d paused", counts[CHANGED])
            already = ngettext("%(num)d was already paused", "%(num)d were already paused", counts[ALREADY])
        parts = {
            CHANGED: changed,
            REFUSED: ngettext("%(num)d refused", "%(num)d refused", counts[REFUSED]),
            ALREADY: already,
            FAILED: ngettext("%(num)d could not be switched", "%(num)d could not be switched", counts[FAILED]),
        }
        return ", ".join(text for name, text in parts.items() if counts[name])


def switch_selected(member_id: str, user_id: int, flow_ids: list[int], desired: bool) -> BulkOutcome:
    """Bring the selected flows to ``desired`` as the user; raises ``TooManyFlows`` beyond ``MAX_FLOWS``."""
    if len(flow_ids) > MAX_FLOWS:
        raise TooManyFlows(len(flow_ids))
    results = switching.switch_many_as(member_id, user_id, flow_ids, desired, how="bulk")
    return BulkOutcome(desired, [results[flow_id] for flow_id in sorted(results)])
