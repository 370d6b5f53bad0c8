"""Callbacks as WeChat's servers POST them to our ``/wechat`` endpoint.

The ``*_xml`` builders give the plaintext XML of a message or event (field order and CDATA
as in WeChat's documentation).  ``signed_query`` adds the query WeChat puts on every push
(``signature``, ``timestamp``, ``nonce``, and ``openid`` on message pushes);
``encrypted_request`` turns plaintext XML into a safe-mode (``encrypt_type=aes``) or
compatible-mode request; ``decrypt_reply`` opens a safe-mode passive reply the way WeChat
does.  Signatures and AES are wechatpy's (``wechatpy.utils.WeChatSigner``,
``wechatpy.crypto.WeChatCrypto``), never hand-written.

A typical plaintext push::

    xml = text_xml("o_user_1", "我要反映问题", msg_id=1, create_time=1700000000)
    query = signed_query(TOKEN, 1700000000, "nonce1", openid="o_user_1")
    await http.post(f"{base}/wechat", params=query, data=xml.encode())

and in safe mode::

    query, body = encrypted_request(TOKEN, AES_KEY, APP_ID, xml, 1700000000, "nonce1")
"""

from __future__ import annotations

import numbers
from typing import Any

import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

DEFAULT_TO = "gh_test"


def cdata(value: str) -> str:
    """``value`` as CDATA; a ``]]>`` inside is split across two sections, as XML requires."""
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _element(name: str, value: Any) -> str:
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return f"<{name}>{value}</{name}>"
    return f"<{name}>{cdata(str(value))}</{name}>"


def _xml(openid: str, to: str, create_time: int, msg_type: str, *fields: tuple[str, Any]) -> str:
    parts = [
        _element("ToUserName", to),
        _element("FromUserName", openid),
        _element("CreateTime", int(create_time)),
        _element("MsgType", msg_type),
    ]
    parts.extend(_element(name, value) for name, value in fields)
    return "<xml>" + "".join(parts) + "</xml>"


# ---------------------------------------------------------------------- messages


def text_xml(openid: str, text: str, msg_id: int, create_time: int, to: str = DEFAULT_TO) -> str:
    return _xml(openid, to, create_time, "text", ("Content", text), ("MsgId", msg_id))


def image_xml(
    openid: str,
    media_id: str,
    msg_id: int,
    create_time: int,
    pic_url: str = "http://mmbiz.qpic.cn/x",
    to: str = DEFAULT_TO,
) -> str:
    return _xml(
        openid,
        to,
        create_time,
        "image",
        ("PicUrl", pic_url),
        ("MediaId", media_id),
        ("MsgId", msg_id),
    )


def voice_xml(
    openid: str,
    media_id: str,
    msg_id: int,
    create_time: int,
    recognition: str | None = None,
    to: str = DEFAULT_TO,
    voice_format: str = "amr",
) -> str:
    """A voice message; ``Recognition`` only when speech recognition gave a text."""
    fields: list[tuple[str, Any]] = [("MediaId", media_id), ("Format", voice_format)]
    if recognition is not None:
        fields.append(("Recognition", recognition))
    fields.append(("MsgId", msg_id))
    return _xml(openid, to, create_time, "voice", *fields)


def location_xml(
    openid: str,
    lat: float,
    lon: float,
    msg_id: int,
    create_time: int,
    label: str = "",
    to: str = DEFAULT_TO,
    scale: int = 15,
) -> str:
    """A location the person sent from the chat's "+" panel (Location_X is the latitude)."""
    return _xml(
        openid,
        to,
        create_time,
        "location",
        ("Location_X", float(lat)),
        ("Location_Y", float(lon)),
        ("Scale", int(scale)),
        ("Label", label),
        ("MsgId", msg_id),
    )


_OTHER_FIELDS: dict[str, tuple[tuple[str, Any], ...]] = {
    "video": (("MediaId", "video_media_id"), ("ThumbMediaId", "thumb_media_id")),
    "shortvideo": (("MediaId", "video_media_id"), ("ThumbMediaId", "thumb_media_id")),
    "link": (
        ("Title", "公众平台官网链接"),
        ("Description", "公众平台官网链接"),
        ("Url", "https://mp.weixin.qq.com/"),
    ),
    "file": (
        ("Title", "合同.pdf"),
        ("Description", "12.3 KB"),
        ("FileKey", "file_key_1"),
        ("FileMd5", "5a8b2c6f8d7e4f3a9b1c0d2e3f4a5b6c"),
        ("FileTotalLen", 12595),
    ),
}


def other_xml(
    openid: str, msg_type: str, msg_id: int, create_time: int, to: str = DEFAULT_TO
) -> str:
    """A message our bot does not handle: video, shortvideo, link, file (or any other
    ``msg_type``, with no fields beyond MsgType and MsgId)."""
    fields = _OTHER_FIELDS.get(msg_type, ())
    return _xml(openid, to, create_time, msg_type, *fields, ("MsgId", msg_id))


# ---------------------------------------------------------------------- events


def event_xml(
    openid: str,
    event: str,
    event_key: str | None,
    create_time: int,
    to: str = DEFAULT_TO,
    **extra: Any,
) -> str:
    """An event; ``extra`` fields follow EventKey in the order given (numbers bare, text
    in CDATA), e.g. ``Ticket="..."`` or ``Latitude=23.1, Longitude=113.3, Precision=119.4``.
    ``event_key=None`` leaves EventKey out, as WeChat does for a plain subscribe."""
    fields: list[tuple[str, Any]] = [("Event", event)]
    if event_key is not None:
        fields.append(("EventKey", event_key))
    fields.extend(extra.items())
    return _xml(openid, to, create_time, "event", *fields)


def subscribe_xml(
    openid: str,
    create_time: int,
    scene: str | None = None,
    ticket: str | None = None,
    to: str = DEFAULT_TO,
) -> str:
    """Follow; from a parametric QR code when ``scene`` is given (EventKey qrscene_<scene>)."""
    if scene is None:
        return event_xml(openid, "subscribe", None, create_time, to=to)
    return event_xml(
        openid, "subscribe", f"qrscene_{scene}", create_time, to=to, Ticket=ticket or "TICKET"
    )


def scan_xml(
    openid: str, scene: str, create_time: int, ticket: str = "TICKET", to: str = DEFAULT_TO
) -> str:
    """A follower scanned a parametric QR code (EventKey is the bare scene)."""
    return event_xml(openid, "SCAN", scene, create_time, to=to, Ticket=ticket)


def unsubscribe_xml(openid: str, create_time: int, to: str = DEFAULT_TO) -> str:
    return event_xml(openid, "unsubscribe", None, create_time, to=to)


def click_xml(openid: str, key: str, create_time: int, to: str = DEFAULT_TO) -> str:
    """A menu button of type click."""
    return event_xml(openid, "CLICK", key, create_time, to=to)


def location_event_xml(
    openid: str,
    lat: float,
    lon: float,
    create_time: int,
    precision: float = 119.385040,
    to: str = DEFAULT_TO,
) -> str:
    """The periodic LOCATION report (when the account asks for the person's location)."""
    return event_xml(
        openid,
        "LOCATION",
        None,
        create_time,
        to=to,
        Latitude=float(lat),
        Longitude=float(lon),
        Precision=float(precision),
    )


# ---------------------------------------------------------------------- signing and crypto


def signature(token: str, timestamp: int | str, nonce: str, *more: str) -> str:
    """WeChat's SHA-1 over the sorted values (with the Encrypt text: ``msg_signature``)."""
    signer = WeChatSigner()
    signer.add_data(token, str(timestamp), nonce, *more)
    return str(signer.signature)


def signed_query(token: str, timestamp: int, nonce: str, **extra: str) -> dict[str, str]:
    """The query WeChat adds to a push: signature, timestamp, nonce, then ``extra``
    (``openid=...`` on message pushes, ``echostr=...`` on the GET that checks the URL)."""
    query = {
        "signature": signature(token, timestamp, nonce),
        "timestamp": str(timestamp),
        "nonce": nonce,
    }
    query.update({key: str(value) for key, value in extra.items()})
    return query


def encrypted_request(
    token: str,
    aes_key: str,
    app_id: str,
    xml: str,
    timestamp: int,
    nonce: str,
    *,
    openid: str | None = None,
    compatible: bool = False,
) -> tuple[dict[str, str], str]:
    """``(query, body)`` of an encrypted push.

    Safe mode (default): the body is ``<xml><ToUserName/><Encrypt/></xml>`` only.
    ``compatible=True`` (兼容模式) keeps the plaintext fields and adds ``Encrypt``.  The
    query has ``signature``, ``timestamp``, ``nonce``, ``openid`` (the sender, taken from
    the XML unless given), ``encrypt_type=aes`` and ``msg_signature``.
    """
    fields = xmltodict.parse(xml)["xml"]
    crypto = WeChatCrypto(token, aes_key, app_id)
    envelope = xmltodict.parse(crypto.encrypt_message(xml, nonce, str(timestamp)))["xml"]
    encrypt = str(envelope["Encrypt"])
    query = signed_query(token, timestamp, nonce, openid=openid or str(fields["FromUserName"]))
    query["encrypt_type"] = "aes"
    query["msg_signature"] = str(envelope["MsgSignature"])
    if compatible:
        body = xml[: xml.rindex("</xml>")] + f"<Encrypt>{cdata(encrypt)}</Encrypt></xml>"
    else:
        to = _element("ToUserName", str(fields["ToUserName"]))
        body = f"<xml>{to}<Encrypt>{cdata(encrypt)}</Encrypt></xml>"
    return query, body


def decrypt_reply(
    token: str, aes_key: str, app_id: str, body: str, query: dict[str, str] | None = None
) -> str:
    """The plaintext XML of a safe-mode passive reply, checked as WeChat checks it.

    The reply must be ``<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>``, its
    MsgSignature must sign (token, TimeStamp, Nonce, Encrypt) and the AppID inside must
    be ``app_id``; wechatpy raises ``InvalidSignatureException`` / ``InvalidAppIdException``
    otherwise.  TimeStamp and Nonce missing from the body fall back to ``query``'s.  A
    plain ``success`` or empty reply is not encrypted: this raises ``ValueError`` then.
    """
    text = body.strip()
    if text in ("", "success"):
        raise ValueError(f"not an encrypted reply: {text!r}")
    fields = xmltodict.parse(text)["xml"]
    query = query or {}
    timestamp = str(fields.get("TimeStamp") or query.get("timestamp", ""))
    nonce = str(fields.get("Nonce") or query.get("nonce", ""))
    crypto = WeChatCrypto(token, aes_key, app_id)
    return str(crypto.decrypt_message(fields, str(fields.get("MsgSignature")), timestamp, nonce))


def parse_xml(xml: str) -> dict[str, Any]:
    """The fields of ``<xml>...</xml>`` as a dict (for asserting on passive replies)."""
    return dict(xmltodict.parse(xml)["xml"])
