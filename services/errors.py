"""What each error means to a person: the app's one table of answers, and the services' own errors.

Every floor raises its own typed errors: ``b24/errors.py`` (what Bitrix24 answered),
``oauth`` (a request that could not be verified), the services below (what the app
refuses). ``ANSWERS`` maps each class to an HTTP status, a stable code for the page's
script and a sentence in the user's language, looked up along the class hierarchy
(the most specific class wins). ``create_app`` registers it once; a blueprint that
needs an answer for an error it caught (a flow's refusal under that flow) asks it too.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from b24.errors import (
    AccessDenied,
    AuthServerUnavailable,
    B24Error,
    InsufficientScope,
    InvalidToken,
    NotInstalled,
    OperationTimeLimit,
    PaymentRequired,
    PortalDeleted,
    PortalUnreachable,
    RateLimited,
    ServerError,
    UserAccessError,
)
from core.errors import Answer, ErrorTable
from oauth.verify import TooManyRefusals, VerificationFailed


class BitrixRefusal(Exception):
    """Bitrix24 refused a flow method; ``description`` is its own text, in the portal's language.

    The answer quotes it as ``bitrix24`` beside the app's own sentence, and the page shows it
    under the flow: the app cannot read a text in any language, but the person can.
    """

    def __init__(self, error: B24Error) -> None:
        super().__init__(error.description or error.code)
        self.error = error
        self.description = error.description or error.code
        self.bitrix24 = self.description


class FlowNotVisible(BitrixRefusal):
    """Reading the flow was refused: the user may not see it, or it is gone (Bitrix24 does not say which)."""


class SwitchRefused(BitrixRefusal):
    """The user may see the flow, but Bitrix24 refused to switch it for them."""


class FlowBusy(Exception):
    """Another switch of the same flow held it for longer than a switch waits."""


class BadSwitchRequest(ValueError):
    """The body of a switch is not ``{"active": true|false}``."""


class BadBulkRequest(ValueError):
    """The body of a bulk switch is not ``{"ids": [flow ids], "active": true|false}``."""


class TooManyFlows(ValueError):
    """A bulk switch of more flows than one request may carry."""


class BadActivityQuery(ValueError):
    """A filter or cursor of the activity view that is not a number (or a stream id)."""


class AdminOnly(Exception):
    """Only a portal administrator may do this (Bitrix24's ``user.admin`` said no)."""


class SessionInvalid(Exception):
    """The page's frame session is missing, forged, for another key, or too old."""


class FormExpired(Exception):
    """The connect form's token is missing or not this browser's (a cross-site POST)."""


class SignInLinkExpired(Exception):
    """An OAuth callback whose state or code can no longer work."""


class InvalidFlowRef(ValueError):
    """Neither a flow id nor a link to a flow on this portal."""


# --- schedules (services/schedules.py) ---------------------------------------------


class BadScheduleRequest(ValueError):
    """The body of a schedule is not JSON of the documented shape (or a time is not a date and time)."""


class EmptySchedule(ValueError):
    """Neither a pause nor a resume time."""


class TimeInPast(ValueError):
    """A pause or resume time that has passed."""


class TimeTooFarAhead(ValueError):
    """A time more than a year ahead."""


class ResumeBeforePause(ValueError):
    """The resume time is not after the pause time."""


class NoSuchLocalTime(ValueError):
    """A wall-clock time the user's zone skips (the hour the clocks move forward)."""

    def __init__(self, local: str) -> None:
        super().__init__(local)
        self.description = local


class TooManySchedules(Exception):
    """The user already has as many pending schedules as ``SCHEDULES_PER_USER`` allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.description = str(limit)


class ScheduleOverlap(Exception):
    """Another pending schedule of the flow covers part of the same time; ``description`` says which."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class ScheduleNotAllowed(Exception):
    """Bitrix24's rule says the user may not switch the flow (not its creator, administrator or a portal admin)."""


class ScheduleNotFound(Exception):
    """No such schedule on the portal (cancelled, pruned, or never there)."""


class NotYourSchedule(Exception):
    """Only the user who planned a change may change its times."""


class PauseAlreadyDone(ValueError):
    """A new pause time for a schedule whose pause already happened."""


# --- notices (services/notice_settings.py) ------------------------------------------------


class BadNoticeRequest(ValueError):
    """The body is not ``{"audience": "team"|"creators"|"nobody"}`` (or ``{"enabled": bool}``)."""


class NoticeNotAllowed(Exception):
    """Bitrix24's rule says the user may not switch the flow, so they may not choose who is told about it."""


TOKEN_DEAD = Answer(401, "token_dead", _l("Bitrix24 no longer accepts your sign-in. Open the app again."))
BUSY_PORTAL = Answer(503, "rate_limited", _l("Bitrix24 is busy, retrying…"))
UNREACHABLE = Answer(502, "portal_unreachable", _l("Bitrix24 cannot be reached right now. Try again in a moment."))
NO_ACCESS = Answer(403, "access_denied", _l("Bitrix24 does not let the app do this for you."))
REFUSED = Answer(502, "refused", _l("Bitrix24 refused the change: %(reason)s"))

ANSWERS = ErrorTable(
    {
        SessionInvalid: Answer(401, "session_expired", _l("Your session has expired; reload the app.")),
        SwitchRefused: Answer(
            403,
            "forbidden",
            _l(
                "You don't have the right to switch this flow. Only its creator, its administrator "
                "or a portal administrator can."
            ),
        ),
        FlowNotVisible: Answer(404, "not_found", _l("Bitrix24 shows you no flow with this number.")),
        BitrixRefusal: REFUSED,
        InvalidToken: TOKEN_DEAD,
        NotInstalled: TOKEN_DEAD,
        PortalDeleted: TOKEN_DEAD,
        RateLimited: BUSY_PORTAL,
        OperationTimeLimit: BUSY_PORTAL,
        FlowBusy: Answer(409, "busy", _l("Another change to this flow is in progress, retrying…")),
        # A refresh that could not run: the stored tokens are intact, so a retry will do.
        AuthServerUnavailable: Answer(
            503, "auth_server_unavailable", _l("The Bitrix24 authorization server is not answering; please try again.")
        ),
        PortalUnreachable: UNREACHABLE,
        ServerError: UNREACHABLE,
        PaymentRequired: Answer(
            402, "payment_required", _l("The app's subscription has ended. Ask your Bitrix24 administrator to renew it.")
        ),
        AccessDenied: NO_ACCESS,
        UserAccessError: NO_ACCESS,
        InsufficientScope: NO_ACCESS,
        B24Error: REFUSED,
        BadSwitchRequest: Answer(
            400, "bad_request", _l('Send the wanted state as JSON: "active" set to true or false.')
        ),
        BadBulkRequest: Answer(
            400, "bad_request", _l('Send the flows and the wanted state as JSON: "ids" and "active".')
        ),
        TooManyFlows: Answer(
            400, "too_many_flows", _l("Select at most 500 flows at a time; narrow the search and try again.")
        ),
        BadActivityQuery: Answer(400, "bad_request", _l("This activity filter is not valid; reload the app.")),
        InvalidFlowRef: Answer(400, "bad_ref", _l("Paste a flow number or a link to a flow on this Bitrix24.")),
        AdminOnly: Answer(403, "admin_only", _l("Only a Bitrix24 administrator can do this.")),
        VerificationFailed: Answer(
            403, "forbidden", _l("This request could not be verified as coming from your Bitrix24.")
        ),
        TooManyRefusals: Answer(
            429, "too_many_attempts", _l("Too many requests could not be verified; please try again in a minute.")
        ),
        FormExpired: Answer(400, "bad_form", _l("This form has expired; please open it again.")),
        BadScheduleRequest: Answer(
            400,
            "bad_request",
            _l("Send the schedule as JSON: a flow number and a pause time, a resume time or both, like 2026-12-24T18:00."),
        ),
        EmptySchedule: Answer(400, "empty_schedule", _l("Choose when to pause, when to resume, or both.")),
        TimeInPast: Answer(400, "in_past", _l("That time has already passed. Choose a time in the future.")),
        TimeTooFarAhead: Answer(400, "too_far_ahead", _l("A schedule can reach at most a year ahead.")),
        ResumeBeforePause: Answer(400, "resume_before_pause", _l("The resume time must come after the pause time.")),
        NoSuchLocalTime: Answer(
            400,
            "no_such_time",
            _l("%(reason)s does not exist in your time zone: the clocks skip that hour. Choose another time."),
        ),
        TooManySchedules: Answer(
            422,
            "too_many_schedules",
            _l("You already have %(reason)s planned changes, the most allowed. Cancel one first."),
        ),
        ScheduleOverlap: Answer(
            422, "overlap", _l("This flow already has a planned change at that time: %(reason)s")
        ),
        ScheduleNotAllowed: Answer(
            403,
            "forbidden",
            _l(
                "You can't schedule this flow: only its creator, its administrator or a portal "
                "administrator can switch it."
            ),
        ),
        ScheduleNotFound: Answer(404, "schedule_not_found", _l("This planned change no longer exists.")),
        NotYourSchedule: Answer(403, "not_yours", _l("Only the person who planned this change can change its times.")),
        PauseAlreadyDone: Answer(
            422, "pause_done", _l("The pause has already happened; only the resume time can change.")
        ),
        BadNoticeRequest: Answer(
            400,
            "bad_request",
            _l(
                'Send the setting as JSON: "audience" ("team", "creators" or "nobody") for a flow, '
                '"enabled" (true or false) for the whole Bitrix24.'
            ),
        ),
        NoticeNotAllowed: Answer(
            403,
            "forbidden",
            _l(
                "Only the flow's creator, its administrator or a portal administrator can choose who is told "
                "when it is paused or resumed."
            ),
        ),
        SignInLinkExpired: Answer(
            400, "bad_request", _l("This sign-in link is no longer valid; please connect your portal again.")
        ),
    }
)
