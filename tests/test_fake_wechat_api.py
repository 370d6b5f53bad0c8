"""The stand-in WeChat API answers like api.weixin.qq.com, and the callback builders make
what WeChat's servers send (checked with wechatpy, and against Tencent's published sample)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import xmltodict
from PIL import Image
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from tests.fakes import wechat_messages as wm
from tests.fakes.wechat_api import FakeWeChatAPI

APP_ID = "wx_test_app"
SECRET = "test-secret"
USER = "oPingAn_user_0000000000000001"
OTHER = "oPingAn_user_0000000000000002"
CUSTOM = "/cgi-bin/message/custom/send"
TOKEN = "pingan-callback-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE = json.loads(
    (Path(__file__).parent / "fakes" / "fixtures" / "wechat_safe_mode_sample.json").read_text(
        encoding="utf-8"
    )
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChatAPI]:
    async with FakeWeChatAPI(templates=["TPL_CASE_UPDATE"]) as api:
        yield api


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _get(
    http: aiohttp.ClientSession, fake: FakeWeChatAPI, path: str, **query: str
) -> dict[str, Any]:
    async with http.get(fake.base_url + path, params=query) as response:
        assert response.status == 200
        result: dict[str, Any] = await response.json(content_type=None)
        return result


async def _post(
    http: aiohttp.ClientSession,
    fake: FakeWeChatAPI,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    data: Any = None,
    **query: str,
) -> dict[str, Any]:
    if token is not None:
        query["access_token"] = token
    if data is None and body is not None:
        data = json.dumps(body, ensure_ascii=False).encode()
    async with http.post(fake.base_url + path, params=query, data=data) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        result: dict[str, Any] = await response.json(content_type=None)
        return result


async def _token(http: aiohttp.ClientSession, fake: FakeWeChatAPI) -> str:
    answer = await _get(
        http, fake, "/cgi-bin/token", grant_type="client_credential", appid=APP_ID, secret=SECRET
    )
    return str(answer["access_token"])


async def _stable(
    http: aiohttp.ClientSession, fake: FakeWeChatAPI, force: bool = False
) -> dict[str, Any]:
    body = {
        "grant_type": "client_credential",
        "appid": APP_ID,
        "secret": SECRET,
        "force_refresh": force,
    }
    return await _post(http, fake, "/cgi-bin/stable_token", body)


def _text(openid: str, content: str) -> dict[str, Any]:
    return {"touser": openid, "msgtype": "text", "text": {"content": content}}


def _png(size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def _upload(content: bytes, filename: str = "chart.png") -> aiohttp.FormData:
    form = aiohttp.FormData()
    # A file object, as a large bytes body would make aiohttp warn about blocking the loop.
    form.add_field("media", io.BytesIO(content), filename=filename, content_type="image/png")
    return form


# ---------------------------------------------------------------------- tokens


async def test_token_is_fetched_once_and_reused(fake: FakeWeChatAPI, http: aiohttp.ClientSession):
    answer = await _get(
        http, fake, "/cgi-bin/token", grant_type="client_credential", appid=APP_ID, secret=SECRET
    )
    assert answer["expires_in"] == 7200
    token = answer["access_token"]
    for n in range(3):
        assert await _post(http, fake, CUSTOM, _text(USER, f"第{n}条"), token=token) == {
            "errcode": 0,
            "errmsg": "ok",
        }
    assert fake.tokens_issued == 1
    assert fake.texts(USER) == ["第0条", "第1条", "第2条"]


async def test_token_credentials_are_checked(fake: FakeWeChatAPI, http: aiohttp.ClientSession):
    query = {"grant_type": "client_credential", "appid": "wx_other", "secret": SECRET}
    wrong_app = await _get(http, fake, "/cgi-bin/token", **query)
    assert wrong_app == {"errcode": 40013, "errmsg": "invalid appid"}
    wrong_secret = await _get(
        http, fake, "/cgi-bin/token", grant_type="client_credential", appid=APP_ID, secret="x"
    )
    assert wrong_secret == {"errcode": 40125, "errmsg": "invalid appsecret"}
    stable = await _post(
        http,
        fake,
        "/cgi-bin/stable_token",
        {"grant_type": "client_credential", "appid": APP_ID, "secret": "x"},
    )
    assert stable["errcode"] == 40125
    assert fake.tokens_issued == 0
    assert [c.errcode for c in fake.calls] == [40013, 40125, 40125]


async def test_stable_token_is_shared_until_force_refresh(
    fake: FakeWeChatAPI, http: aiohttp.ClientSession
):
    first = await _stable(http, fake)
    again = await _stable(http, fake)
    assert first["access_token"] == again["access_token"]
    assert 7190 <= again["expires_in"] <= 7200
    assert fake.tokens_issued == 1

    fresh = await _stable(http, fake, force=True)
    assert fresh["access_token"] != first["access_token"]
    old = await _post(http, fake, CUSTOM, _text(USER, "x"), token=first["access_token"])
    assert old["errcode"] == 40001
    ok = await _post(http, fake, CUSTOM, _text(USER, "x"), token=fresh["access_token"])
    assert ok["errcode"] == 0

    # Within 5 minutes of expiry the normal mode hands out a new token.
    fake.advance(7200 - 299)
    renewed = await _stable(http, fake)
    assert renewed["access_token"] != fresh["access_token"]
    assert fake.tokens_issued == 3


async def test_token_endpoint_leaves_old_tokens_five_minutes(
    fake: FakeWeChatAPI, http: aiohttp.ClientSession
):
    first = await _token(http, fake)
    second = await _token(http, fake)
    assert first != second
    assert (await _post(http, fake, CUSTOM, _text(USER, "a"), token=first))["errcode"] == 0
    fake.advance(301)
    assert (await _post(http, fake, CUSTOM, _text(USER, "b"), token=first))["errcode"] == 42001
    assert (await _post(http, fake, CUSTOM, _text(USER, "c"), token=second))["errcode"] == 0


async def test_expired_invalid_and_missing_tokens(fake: FakeWeChatAPI, http: aiohttp.ClientSession):
    token = await _token(http, fake)
    fake.expire_tokens()
    assert await _post(http, fake, CUSTOM, _text(USER, "x"), token=token) == {
        "errcode": 40001,
        "errmsg": "invalid credential, access_token is invalid or not latest",
    }
    token = await _token(http, fake)
    fake.expire_tokens(errcode=42001)
    assert await _post(http, fake, CUSTOM, _text(USER, "x"), token=token) == {
        "errcode": 42001,
        "errmsg": "access_token expired",
    }
    token = await _token(http, fake)
    fake.advance(7200)
    assert (await _post(http, fake, CUSTOM, _text(USER, "x"), token=token))["errcode"] == 42001
    assert await _post(http, fake, CUSTOM, _text(USER, "x")) == {
        "errcode": 41001,
        "errmsg": "access_token missing",
    }
    assert (await _post(http, fake, CUSTOM, _text(USER, "x"), token="bogus"))["errcode"] == 40001
    assert fake.sent() == []
    assert all(c.failed for c in fake.calls_to(CUSTOM))


# ---------------------------------------------------------------------- messages


async def test_custom_send_is_recorded(fake: FakeWeChatAPI, http: aiohttp.ClientSession):
    token = await _token(http, fake)
    await _post(http, fake, CUSTOM, _text(USER, "您的纠纷已受理"), token=token)
    await _post(http, fake, CUSTOM, _text(OTHER, "别人的"), token=token)
    [call] = fake.sent(USER)
    assert call.method == "POST"
    assert call.path == CUSTOM
    assert call.query["access_token"] == token
    assert call.body == _text(USER, "您的纠纷已受理")
    assert (call.failed, call.errcode, call.openid, call.text) == (False, 0, USER, "您的纠纷已受理")
    assert fake.texts() == ["您的纠纷已受理", "别人的"]


async def test_text_over_2048_bytes_is_refused(fake: FakeWeChatAPI, http: aiohttp.ClientSession):
    token = await _token(http, fake)
    fits = "调" * 682 + "ab"  # 2048 bytes
    too_long = "调" * 683  # 2049 bytes
    assert (await _post(http, fake, CUSTOM, _text(USER, fits), token=token))["errcode"] == 0
    assert await _post(http, fake, CUSTOM, _text(USER, too_long), token=token) == {
        "errcode": 45002,
        "errmsg": "content size out of limit",
    }
    assert (await _post(http, fake, CUSTOM, _text(USER, ""), token=token))["errcode"] == 44004
    assert fake.texts(USER) == [fits]


async def test_fail_next_injects_45015_then_recovers(
    fake: FakeWeChatAPI, http: aiohttp.ClientSession
):
    token = await _token(http, fake)
    fake.fail_next(CUSTOM, 45015)
    assert await _post(http, fake, CUSTOM, _text(USER, "第一次"), token=token) == {
        "errcode": 45015,
        "errmsg": "response out of time limit or subscription is canceled",
    }
    assert (await _post(http, fake, CUSTOM, _text(USER, "第二次"), token=token))["errcode"] == 0
    assert fake.texts(USER) == ["第二次"]
    failed = fake.calls_to(CUSTOM)[0]
    assert (failed.failed, failed.errcode, failed.text) == (True, 45015, "第一次")

    fake.fail_next(CUSTOM, -1, "system busy", times=2, openid=OTHER)
    assert (await _post(http, fake, CUSTOM, _text(USER, "a"), token=token))["errcode"] == 0
    for _ in range(2):
        busy = await _post(http, fake, CUSTOM, _text(OTHER, "b"), token=token)
        assert busy == {"errcode": -1, "errmsg": "system busy"}
    assert (await _post(http, fake, CUSTOM, _text(OTHER, "c"), token=token))["errcode"] == 0


async def test_window_and_unsubscribe_rules(http: aiohttp.ClientSession):
    async with FakeWeChatAPI(enforce_window=True) as fake:
        token = await _token(http, fake)
        assert (await _post(http, fake, CUSTOM, _text(USER, "x"), token=token))["errcode"] == 45015
        fake.user_wrote(USER)
        assert (await _post(http, fake, CUSTOM, _text(USER, "x"), token=token))["errcode"] == 0
        fake.advance(48 * 3600 + 1)
        token = await _token(http, fake)
        assert (await _post(http, fake, CUSTOM, _text(USER, "x"), token=token))["errcode"] == 45015
        fake.unsubscribe(USER)
        assert (await _post(http, fake, CUSTOM, _text(USER, "x"), token=token))["errcode"] == 43004


async def test_template_send(fake: FakeWeChatAPI, http: aiohttp.ClientSession):
    token = await _token(http, fake)
    body = {
        "touser": USER,
        "template_id": "TPL_CASE_UPDATE",
        "data": {"first": {"value": "您的纠纷有新进展"}, "keyword1": {"value": "JH-2024-001"}},
    }
    answer = await _post(http, fake, "/cgi-bin/message/template/send", body, token=token)
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok"
    assert isinstance(answer["msgid"], int)
    unknown = await _post(
        http,
        fake,
        "/cgi-bin/message/template/send",
        {**body, "template_id": "nope"},
        token=token,
    )
    assert unknown == {"errcode": 40037, "errmsg": "invalid template_id"}
    [sent] = fake.sent(USER)
    assert sent.path == "/cgi-bin/message/template/send"
    assert fake.texts(USER) == []


async def test_wait_for_sees_a_later_call(fake: FakeWeChatAPI, http: aiohttp.ClientSession):
    token = await _token(http, fake)
    since = len(fake.calls)
    await _post(http, fake, CUSTOM, _text(USER, "已到"), token=token)
    call = await fake.wait_for(lambda c: c.text == "已到", since=since)
    assert call.openid == USER
    with pytest.raises(TimeoutError, match="no matching WeChat API call"):
        await fake.wait_for(lambda c: c.text == "never", timeout=0.05)


# ---------------------------------------------------------------------- media, QR, menu


async def test_media_upload_of_a_real_png(fake: FakeWeChatAPI, http: aiohttp.ClientSession):
    token = await _token(http, fake)
    png = _png()
    answer = await _post(
        http, fake, "/cgi-bin/media/upload", token=token, type="image", data=_upload(png)
    )
    assert answer["type"] == "image"
    assert isinstance(answer["created_at"], int)
    media_id = answer["media_id"]
    assert fake.media[media_id].data == png
    upload = fake.calls_to("/cgi-bin/media/upload")[0]
    assert upload.body == {"media": png}
    assert upload.filenames == {"media": "chart.png"}

    image = {"touser": USER, "msgtype": "image", "image": {"media_id": media_id}}
    assert (await _post(http, fake, CUSTOM, image, token=token))["errcode"] == 0
    bogus = {"touser": USER, "msgtype": "image", "image": {"media_id": "nope"}}
    assert (await _post(http, fake, CUSTOM, bogus, token=token))["errcode"] == 40007
    assert [c.msgtype for c in fake.sent(USER)] == ["image"]

    async with http.get(
        f"{fake.base_url}/cgi-bin/media/get", params={"access_token": token, "media_id": media_id}
    ) as response:
        assert response.headers["Content-Type"] == "image/png"
        assert await response.read() == png


async def test_media_upload_rules(fake: FakeWeChatAPI, http: aiohttp.ClientSession):
    token = await _token(http, fake)
    not_image = await _post(
        http, fake, "/cgi-bin/media/upload", token=token, type="image", data=_upload(b"%PDF-1.4")
    )
    assert not_image == {"errcode": 40005, "errmsg": "invalid file type"}
    big = _png()
    big += b"\0" * (10 * 1024 * 1024 + 1 - len(big))
    too_big = await _post(
        http, fake, "/cgi-bin/media/upload", token=token, type="image", data=_upload(big)
    )
    assert too_big == {"errcode": 40009, "errmsg": "invalid image size"}
    plain_field = aiohttp.FormData()
    plain_field.add_field("media", "not a file")
    missing = await _post(
        http, fake, "/cgi-bin/media/upload", token=token, type="image", data=plain_field
    )
    assert missing["errcode"] == 41005
    bad_type = await _post(
        http, fake, "/cgi-bin/media/upload", token=token, type="pdf", data=_upload(_png())
    )
    assert bad_type["errcode"] == 40004
    assert fake.media == {}


async def test_qr_create(fake: FakeWeChatAPI, http: aiohttp.ClientSession):
    token = await _token(http, fake)
    body = {
        "action_name": "QR_LIMIT_STR_SCENE",
        "action_info": {"scene": {"scene_str": "grid:532801001001G01"}},
    }
    answer = await _post(http, fake, "/cgi-bin/qrcode/create", body, token=token)
    assert set(answer) == {"ticket", "url"}
    assert answer["url"].startswith("http://weixin.qq.com/q/")
    assert fake.scene_of(answer["ticket"]) == "grid:532801001001G01"

    too_long = {
        "action_name": "QR_LIMIT_STR_SCENE",
        "action_info": {"scene": {"scene_str": "x" * 65}},
    }
    refused = await _post(http, fake, "/cgi-bin/qrcode/create", too_long, token=token)
    assert refused == {"errcode": 40097, "errmsg": "invalid args"}
    temporary = {
        "action_name": "QR_STR_SCENE",
        "expire_seconds": 600,
        "action_info": {"scene": {"scene_str": "x" * 64}},
    }
    answer = await _post(http, fake, "/cgi-bin/qrcode/create", temporary, token=token)
    assert answer["expire_seconds"] == 600


def _button(name: str, key: str) -> dict[str, Any]:
    return {"type": "click", "name": name, "key": key}


async def test_menu_limits(fake: FakeWeChatAPI, http: aiohttp.ClientSession):
    token = await _token(http, fake)
    assert (await _get(http, fake, "/cgi-bin/menu/get", access_token=token))["errcode"] == 46003

    four = {"button": [_button(f"菜单{i}", f"K{i}") for i in range(4)]}
    answer = await _post(http, fake, "/cgi-bin/menu/create", four, token=token)
    assert answer == {"errcode": 40016, "errmsg": "invalid button size"}
    six_subs = {
        "button": [{"name": "办事", "sub_button": [_button(f"子{i}", f"S{i}") for i in range(6)]}]
    }
    answer = await _post(http, fake, "/cgi-bin/menu/create", six_subs, token=token)
    assert answer == {"errcode": 40023, "errmsg": "invalid sub button size"}
    long_name = {"button": [_button("矛盾纠纷排查化解", "K")]}  # 24 bytes > 16
    answer = await _post(http, fake, "/cgi-bin/menu/create", long_name, token=token)
    assert answer["errcode"] == 40018
    bad_type = {"button": [{"type": "tap", "name": "反映", "key": "K"}]}
    answer = await _post(http, fake, "/cgi-bin/menu/create", bad_type, token=token)
    assert answer["errcode"] == 40017
    assert fake.menu is None

    menu = {
        "button": [
            _button("我要反映", "REPORT"),
            {
                "name": "查询",
                "sub_button": [
                    _button("我的案件", "MY_CASES"),
                    {"type": "view", "name": "说明", "url": "https://example.org/help"},
                ],
            },
        ]
    }
    assert await _post(http, fake, "/cgi-bin/menu/create", menu, token=token) == {
        "errcode": 0,
        "errmsg": "ok",
    }
    got = await _get(http, fake, "/cgi-bin/menu/get", access_token=token)
    assert got["menu"]["button"][0] == {**_button("我要反映", "REPORT"), "sub_button": []}
    assert got["menu"]["button"][1]["sub_button"] == menu["button"][1]["sub_button"]


async def test_http_level_rules(fake: FakeWeChatAPI, http: aiohttp.ClientSession):
    token = await _token(http, fake)
    answer = await _get(http, fake, CUSTOM, access_token=token)
    assert answer == {"errcode": 43002, "errmsg": "require POST method"}
    garbled = await _post(http, fake, CUSTOM, token=token, data=b"{not json")
    assert garbled["errcode"] == 47001
    async with http.get(f"{fake.base_url}/cgi-bin/no/such/api") as response:
        assert response.status == 404
    assert fake.calls[-1].path == "/cgi-bin/no/such/api"


async def test_rid_suffix_like_todays_wechat(http: aiohttp.ClientSession):
    async with FakeWeChatAPI(rid_in_errmsg=True) as fake:
        answer = await _post(http, fake, CUSTOM, _text(USER, "x"), token="bogus")
        assert answer["errcode"] == 40001
        assert answer["errmsg"].startswith("invalid credential, access_token is invalid")
        assert " rid: " in answer["errmsg"]


# ---------------------------------------------------------------------- published sample


def test_published_safe_mode_sample_decrypts_with_wechatpy():
    sample = SAMPLE["message"]
    crypto = WeChatCrypto(sample["token"], sample["encoding_aes_key"], sample["app_id"])
    plaintext = crypto.decrypt_message(
        sample["request_body"], sample["msg_signature"], sample["timestamp"], sample["nonce"]
    )
    assert plaintext == sample["expected_plaintext"]
    assert dict(xmltodict.parse(plaintext)["xml"]) == sample["expected_fields"]
    assert f"<![CDATA[{sample['encrypt']}]]>" in sample["request_body"]
    signed = wm.signature(sample["token"], sample["timestamp"], sample["nonce"], sample["encrypt"])
    assert signed == sample["msg_signature"]

    # The token the brief guessed ("spamtest") does not sign this sample.
    for token in ("spamtest", "pamtest"):
        wrong = WeChatCrypto(token, sample["encoding_aes_key"], sample["app_id"])
        with pytest.raises(InvalidSignatureException):
            wrong.decrypt_message(
                sample["request_body"],
                sample["msg_signature"],
                sample["timestamp"],
                sample["nonce"],
            )
    other_app = WeChatCrypto(sample["token"], sample["encoding_aes_key"], "wx_other")
    with pytest.raises(InvalidAppIdException):
        other_app.decrypt_message(
            sample["request_body"], sample["msg_signature"], sample["timestamp"], sample["nonce"]
        )


def test_published_url_verification_sample():
    sample, keys = SAMPLE["url_verification"], SAMPLE["message"]
    crypto = WeComCrypto(keys["token"], keys["encoding_aes_key"], keys["app_id"])
    echo = crypto.check_signature(
        sample["msg_signature"], sample["timestamp"], sample["nonce"], sample["echostr"]
    )
    assert echo == sample["expected_echo"]


def test_published_official_account_aes_vector():
    vector = SAMPLE["official_account_vector"]
    key = base64.b64decode(vector["encoding_aes_key"] + "=")
    assert PrpCrypto(key).decrypt(vector["encrypt"], vector["app_id"]) == vector["plaintext"]

    class FixedRandom(PrpCrypto):
        def get_random_string(self) -> str:
            return str(vector["random"])

    encrypted = FixedRandom(key).encrypt(vector["plaintext"], vector["app_id"])
    assert encrypted.decode() == vector["encrypt"]


# ---------------------------------------------------------------------- builders


def test_signed_query_passes_wechatpy_check():
    query = wm.signed_query(TOKEN, 1700000000, "n0nce", openid=USER)
    assert set(query) == {"signature", "timestamp", "nonce", "openid"}
    assert query["openid"] == USER
    check_signature(TOKEN, query["signature"], query["timestamp"], query["nonce"])
    with pytest.raises(InvalidSignatureException):
        check_signature("other-token", query["signature"], query["timestamp"], query["nonce"])
    echo = wm.signed_query(TOKEN, 1700000000, "n0nce", echostr="123456")
    assert echo["echostr"] == "123456"


def test_encrypted_request_decrypts_back():
    xml = wm.text_xml(USER, "我要调解 <邻里> ]]> 纠纷", msg_id=42, create_time=1700000000)
    query, body = wm.encrypted_request(TOKEN, AES_KEY, APP_ID, xml, 1700000000, "n0nce")
    assert query["encrypt_type"] == "aes"
    assert query["openid"] == USER
    assert query["timestamp"] == "1700000000"
    check_signature(TOKEN, query["signature"], query["timestamp"], query["nonce"])
    fields = wm.parse_xml(body)
    assert set(fields) == {"ToUserName", "Encrypt"}
    assert fields["ToUserName"] == "gh_test"

    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    plaintext = crypto.decrypt_message(
        body, query["msg_signature"], query["timestamp"], query["nonce"]
    )
    assert plaintext == xml
    message = parse_message(plaintext)
    assert (message.type, message.source, message.content, message.id) == (
        "text",
        USER,
        "我要调解 <邻里> ]]> 纠纷",
        42,
    )

    query, body = wm.encrypted_request(
        TOKEN, AES_KEY, APP_ID, xml, 1700000000, "n0nce", compatible=True
    )
    fields = wm.parse_xml(body)
    assert fields["Content"] == "我要调解 <邻里> ]]> 纠纷"
    again = crypto.decrypt_message(
        fields, query["msg_signature"], query["timestamp"], query["nonce"]
    )
    assert again == xml


def test_decrypt_reply_checks_like_wechat():
    reply = wm.text_xml("gh_test", "已收到", msg_id=1, create_time=1700000001, to=USER)
    body = WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(reply, "n0nce", "1700000001")
    query = {"timestamp": "1700000001", "nonce": "n0nce"}
    assert wm.decrypt_reply(TOKEN, AES_KEY, APP_ID, body, query) == reply
    with pytest.raises(InvalidSignatureException):
        wm.decrypt_reply("other-token", AES_KEY, APP_ID, body, query)
    with pytest.raises(InvalidAppIdException):
        wm.decrypt_reply(TOKEN, AES_KEY, "wx_other", body, query)
    with pytest.raises(ValueError, match="not an encrypted reply"):
        wm.decrypt_reply(TOKEN, AES_KEY, APP_ID, "success", query)


@pytest.mark.parametrize(
    ("xml", "kind", "checks"),
    [
        (wm.text_xml(USER, "你好", 1, 100), "TextMessage", {"content": "你好"}),
        (wm.image_xml(USER, "MEDIA", 2, 100), "ImageMessage", {"media_id": "MEDIA"}),
        (wm.voice_xml(USER, "V", 3, 100, "我要反映"), "VoiceMessage", {"recognition": "我要反映"}),
        (wm.voice_xml(USER, "V", 3, 100), "VoiceMessage", {"recognition": None}),
        (
            wm.location_xml(USER, 22.0, 100.8, 4, 100, "景洪市"),
            "LocationMessage",
            {"location": ("22.0", "100.8"), "label": "景洪市"},
        ),
        (wm.other_xml(USER, "video", 5, 100), "VideoMessage", {}),
        (wm.other_xml(USER, "shortvideo", 5, 100), "ShortVideoMessage", {}),
        (wm.other_xml(USER, "link", 5, 100), "LinkMessage", {}),
        (wm.other_xml(USER, "file", 5, 100), "UnknownMessage", {"MsgType": "file"}),
        (wm.subscribe_xml(USER, 100), "SubscribeEvent", {"event": "subscribe"}),
        (
            wm.subscribe_xml(USER, 100, scene="grid:1", ticket="T"),
            "SubscribeScanEvent",
            {"scene_id": "grid:1", "ticket": "T"},
        ),
        (wm.scan_xml(USER, "grid:1", 100, "T"), "ScanEvent", {"scene_id": "grid:1"}),
        (wm.click_xml(USER, "REPORT", 100), "ClickEvent", {"key": "REPORT"}),
        (
            wm.location_event_xml(USER, 22.0, 100.8, 100),
            "LocationEvent",
            {"latitude": 22.0, "longitude": 100.8},
        ),
        (wm.unsubscribe_xml(USER, 100), "UnsubscribeEvent", {}),
        (
            wm.event_xml(USER, "VIEW", "https://example.org", 100, MenuId=7),
            "ViewEvent",
            {"url": "https://example.org"},
        ),
    ],
)
def test_builders_parse_with_wechatpy(xml: str, kind: str, checks: dict[str, Any]):
    message = parse_message(xml)
    assert type(message).__name__ == kind
    assert message.source == USER
    assert message.target == "gh_test"
    fields = wm.parse_xml(xml)
    for name, expected in checks.items():
        # Capitalised: the raw XML field; otherwise wechatpy's attribute.
        actual = fields.get(name) if name[0].isupper() else getattr(message, name)
        assert actual == expected
