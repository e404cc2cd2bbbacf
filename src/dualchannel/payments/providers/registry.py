"""The configured provider: a real one by its settings, else the bundled simulator.

A real provider is configuration only (README: 线上支付): ``WECHATPAY_BASE_URL`` and the merchant's
ids and key files. With no address set, the simulator registered in ``payments.in_process``
answers (demo and tests) at ``PUBLIC_BASE_URL/simulators/wxpay`` through an in-process
transport; without it a payment stops with ``ImproperlyConfigured``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from dualchannel.core.errors import DomainError

from .. import error_codes as codes
from ..in_process import simulated_provider
from . import wechatpay_crypto as crypto
from .base import PaymentProvider
from .wechatpay import NAME as WECHATPAY
from .wechatpay import WeChatPayConfig, WeChatPayV3

SIMULATOR_PATH = "/simulators/wxpay"


def provider_name() -> str:
    """The provider new orders go to."""
    return settings.PAYMENT_PROVIDER


def notify_url(name: str) -> str:
    return settings.PAYMENT_NOTIFY_BASE_URL + reverse("payments-notify", args=[name])


@lru_cache(maxsize=8)
def _read_keys(private_path: str, platform_path: str):
    return (
        crypto.load_private_key(Path(private_path).read_bytes()),
        crypto.load_public_key(Path(platform_path).read_bytes()),
    )


def _configured() -> WeChatPayConfig:
    required = {
        "WECHATPAY_MCH_ID": settings.WECHATPAY_MCH_ID,
        "WECHATPAY_APP_ID": settings.WECHATPAY_APP_ID,
        "WECHATPAY_API_V3_KEY": settings.WECHATPAY_API_V3_KEY,
        "WECHATPAY_MERCHANT_SERIAL_NO": settings.WECHATPAY_MERCHANT_SERIAL_NO,
        "WECHATPAY_MERCHANT_PRIVATE_KEY_PATH": settings.WECHATPAY_MERCHANT_PRIVATE_KEY_PATH,
        "WECHATPAY_PLATFORM_PUBLIC_KEY_PATH": settings.WECHATPAY_PLATFORM_PUBLIC_KEY_PATH,
        "WECHATPAY_PLATFORM_SERIAL_NO": settings.WECHATPAY_PLATFORM_SERIAL_NO,
    }
    missing = [name for name, value in required.items() if not value]
    if missing:
        raise ImproperlyConfigured(f"WeChat Pay needs {', '.join(missing)}")
    private_key, platform_key = _read_keys(
        settings.WECHATPAY_MERCHANT_PRIVATE_KEY_PATH, settings.WECHATPAY_PLATFORM_PUBLIC_KEY_PATH
    )
    api_v3_key = settings.WECHATPAY_API_V3_KEY.encode()
    if len(api_v3_key) != 32:
        raise ImproperlyConfigured("WECHATPAY_API_V3_KEY is 32 bytes")
    return WeChatPayConfig(
        mch_id=settings.WECHATPAY_MCH_ID,
        app_id=settings.WECHATPAY_APP_ID,
        api_v3_key=api_v3_key,
        merchant_serial_no=settings.WECHATPAY_MERCHANT_SERIAL_NO,
        merchant_private_key=private_key,
        platform_keys={settings.WECHATPAY_PLATFORM_SERIAL_NO: platform_key},
        base_url=settings.WECHATPAY_BASE_URL,
        notify_url=notify_url(WECHATPAY),
        timeout_seconds=settings.WECHATPAY_TIMEOUT_SECONDS,
        notify_max_age_seconds=settings.PAYMENT_NOTIFY_MAX_AGE_SECONDS,
    )


def _simulated() -> WeChatPayConfig:
    simulator = simulated_provider(WECHATPAY)
    if simulator is None:
        raise ImproperlyConfigured(
            "WECHATPAY_BASE_URL is not set and the bundled simulator is not installed"
        )
    given = simulator.credentials()
    return WeChatPayConfig(
        mch_id=given["mch_id"],
        app_id=given["app_id"],
        api_v3_key=given["api_v3_key"],
        merchant_serial_no=given["merchant_serial_no"],
        merchant_private_key=given["merchant_private_key"],
        platform_keys={given["platform_serial_no"]: given["platform_public_key"]},
        base_url=settings.PUBLIC_BASE_URL + SIMULATOR_PATH,
        notify_url=notify_url(WECHATPAY),
        notify_max_age_seconds=settings.PAYMENT_NOTIFY_MAX_AGE_SECONDS,
        transport=simulator.transport(),
    )


def provider_for(name: str) -> PaymentProvider:
    """The client of provider ``name`` as configured; an unknown name is refused."""
    if name != WECHATPAY:
        raise DomainError(codes.UNKNOWN_PROVIDER, "未知的支付渠道")
    return WeChatPayV3(_configured() if settings.WECHATPAY_BASE_URL else _simulated())
