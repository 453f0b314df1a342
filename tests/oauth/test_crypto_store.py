"""Token encryption and the Redis record layout, against a real Redis."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
import redis
from cryptography.fernet import Fernet, MultiFernet

from core.keys import BadMemberId, portal_key
from oauth.crypto import TokenCipher, UndecryptableRecord
from oauth.store import Portal, TokenStore, UserToken

MEMBER = "a223c6b3710f85df22e9377d6c4f7553"


def _token(access: str = "access-1", refresh: str = "refresh-1") -> UserToken:
    return UserToken(
        access_token=access,
        refresh_token=refresh,
        expires_at=time.time() + 3600,
        scope="task,user",
        client_endpoint="https://portal.example/rest/",
        server="https://oauth.bitrix.info",
    )


def test_rotating_secret_key_keeps_old_records_readable_and_rewrites_under_new_key(redis_db: redis.Redis):
    old = TokenStore(redis_db, TokenCipher.from_config({"SECRET_KEY": "old-secret"}))
    old.put_user(MEMBER, 7, _token())

    rotated_cipher = TokenCipher.from_config(
        {"SECRET_KEY": "new-secret", "SECRET_KEY_FALLBACKS": ["old-secret"]}
    )
    rotated = TokenStore(redis_db, rotated_cipher)
    assert rotated.get_user(MEMBER, 7).access_token == "access-1"

    rotated.put_user(MEMBER, 7, rotated.get_user(MEMBER, 7))  # the next write re-encrypts
    only_new = TokenStore(redis_db, TokenCipher.from_config({"SECRET_KEY": "new-secret"}))
    assert only_new.get_user(MEMBER, 7).refresh_token == "refresh-1"
    assert old.get_user(MEMBER, 7) is None  # the retired key alone no longer opens it


def test_explicit_fernet_keys_win_over_secret_key_and_rotate(redis_db: redis.Redis):
    first, second = Fernet.generate_key(), Fernet.generate_key()
    portal = Portal(
        member_id=MEMBER,
        domain="portal.example",
        client_endpoint="https://portal.example/rest/",
        server="https://oauth.bitrix.info",
        application_token="app-token-1",
    )
    TokenStore(redis_db, TokenCipher([first])).update_portal(MEMBER, lambda _: portal)
    config = {"TOKEN_ENCRYPTION_KEYS": [second, first], "SECRET_KEY": "ignored"}
    assert (
        TokenStore(redis_db, TokenCipher.from_config(config)).get_portal(MEMBER).application_token
        == "app-token-1"
    )
    with pytest.raises(UndecryptableRecord):
        TokenCipher.from_config({"SECRET_KEY": "ignored"}).decrypt(redis_db.get(portal_key(MEMBER, "portal")))


def test_a_record_read_again_is_not_decrypted_again_and_a_rewrite_is_read_fresh(
    redis_db: redis.Redis, monkeypatch: pytest.MonkeyPatch
):
    opened: list[bytes] = []
    decrypt = MultiFernet.decrypt

    def counting(self: MultiFernet, token: bytes, ttl: int | None = None) -> bytes:
        opened.append(token)
        return decrypt(self, token, ttl)

    monkeypatch.setattr(MultiFernet, "decrypt", counting)
    store = TokenStore(redis_db, TokenCipher.from_config({"SECRET_KEY": "kept-secret"}))
    store.put_user(MEMBER, 7, _token())
    for _ in range(3):
        assert store.get_user(MEMBER, 7).access_token == "access-1"
    assert len(opened) == 1

    store.put_user(MEMBER, 7, _token(access="access-2"))  # a rotation: a new ciphertext
    assert store.get_user(MEMBER, 7).access_token == "access-2"
    assert len(opened) == 2

    key = portal_key(MEMBER, "user", 7)
    redis_db.set(key, redis_db.get(key)[:-4] + "AAAA")  # tampered: no key opens it, each time
    assert store.get_user(MEMBER, 7) is None
    assert store.get_user(MEMBER, 7) is None
    assert len(opened) == 4


def test_values_are_ciphertext_and_keys_are_hash_tagged(redis_db: redis.Redis):
    store = TokenStore(redis_db, TokenCipher.from_config({"SECRET_KEY": "s"}))
    store.put_user(MEMBER, 1, _token("plain-access-xyz", "plain-refresh-xyz"))
    keys = list(redis_db.scan_iter("*"))
    assert keys == [f"fs:{{{MEMBER}}}:user:1"]
    raw = redis_db.get(keys[0])
    assert "plain-access-xyz" not in raw and "plain-refresh-xyz" not in raw


def test_delete_portal_removes_every_key_of_that_portal_only(redis_db: redis.Redis):
    store = TokenStore(redis_db, TokenCipher.from_config({"SECRET_KEY": "s"}))
    for user in range(1, 1200):  # more than one SCAN page and one DEL batch
        redis_db.set(portal_key(MEMBER, "user", user), "x")
    store.put_user("other-portal", 1, _token())
    assert store.delete_portal(MEMBER) == 1199
    assert list(redis_db.scan_iter(f"fs:{{{MEMBER}}}:*")) == []
    assert store.get_user("other-portal", 1) is not None


@pytest.mark.parametrize("member_id", ["", "a*", "a}b", "x" * 65, "a:b", "a b"])
def test_member_ids_that_could_escape_their_key_are_refused(member_id: str):
    with pytest.raises(BadMemberId):
        portal_key(member_id, "portal")


def test_concurrent_portal_updates_do_not_lose_each_others_fields(redis_db: redis.Redis):
    store = TokenStore(redis_db, TokenCipher.from_config({"SECRET_KEY": "s"}))
    base = Portal(member_id=MEMBER, domain="p", client_endpoint="https://p/rest/", server="https://o")
    store.update_portal(MEMBER, lambda _: base)

    def interfere(current: Portal | None) -> Portal:
        # Another writer commits between our read and our write: WATCH makes us re-run.
        if not redis_db.get("interfered"):
            redis_db.set("interfered", "1")
            store.update_portal(MEMBER, lambda p: replace(p, application_token="from-event"))
        return replace(current, installer_user_id=5)

    result = store.update_portal(MEMBER, interfere)
    assert (result.application_token, result.installer_user_id) == ("from-event", 5)
    assert store.get_portal(MEMBER) == result
