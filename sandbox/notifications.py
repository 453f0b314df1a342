"""Each user's notification list, with the im module's tag rule: a new notice replaces the older ones.

``CIMMessenger::Add`` saves the notice, then ``Bitrix\\Im\\Notify::deleteOldNotifyByTag`` deletes
the earlier notices with the same stored tag in the same notification chat, i.e. for that
recipient only (yuliai/bitrix-modules ``im/classes/general/im_messenger.php``, ``im/lib/notify.php``).
"""

from __future__ import annotations

from sandbox.models import Notification


class NotificationBook:
    """Not locked on its own: ``World`` holds the one lock and calls in here while holding it."""

    def __init__(self) -> None:
        self._items: list[Notification] = []

    def add(self, notice: Notification) -> None:
        if notice.notify_tag:
            self._items = [
                n
                for n in self._items
                if not (n.user_id == notice.user_id and n.notify_tag == notice.notify_tag)
            ]
        self._items.append(notice)

    def for_user(self, user_id: int) -> list[Notification]:
        """Newest first, like the portal's notification list."""
        return sorted((n for n in self._items if n.user_id == user_id), key=lambda n: n.id, reverse=True)
