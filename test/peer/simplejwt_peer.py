"""Django + SimpleJWT configured as the reference peer, for test/interop.test.ts.

A trimmed copy of the settings block of shared/peers/simplejwt/refsite.py (the project's
reference peer: Django 3.2, DRF 3.14, SimpleJWT 5.2.2 from Debian's packages), without its
URLs and views: the test only calls SimpleJWT's token classes and JWTAuthentication.
Importing this module configures Django. Environment: REF_DB (SQLite file), REF_SIGNING_KEY;
optionally SimpleJWT's claim settings, as latchkey's LATCHKEY_* of the same names:
REF_USER_ID_FIELD, REF_USER_ID_CLAIM, REF_TOKEN_TYPE_CLAIM, REF_JTI_CLAIM, and
REF_AUTH_TOKEN_CLASSES (comma-separated: access, sliding).
"""
import os
from datetime import timedelta

import django
from django.conf import settings

TOKEN_CLASSES = {
    "access": "rest_framework_simplejwt.tokens.AccessToken",
    "sliding": "rest_framework_simplejwt.tokens.SlidingToken",
}
CLAIM_SETTINGS = {
    name: os.environ[f"REF_{name}"]
    for name in ("USER_ID_FIELD", "USER_ID_CLAIM", "TOKEN_TYPE_CLAIM", "JTI_CLAIM")
    if os.environ.get(f"REF_{name}")
}
AUTH_TOKEN_CLASSES = tuple(
    TOKEN_CLASSES[t.strip()] for t in os.environ.get("REF_AUTH_TOKEN_CLASSES", "access").split(",") if t.strip()
)

settings.configure(
    DEBUG=False,
    SECRET_KEY="reference-only-not-secret",
    INSTALLED_APPS=[
        "django.contrib.auth", "django.contrib.contenttypes",
        "rest_framework", "rest_framework_simplejwt", "rest_framework_simplejwt.token_blacklist",
    ],
    MIDDLEWARE=[],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["REF_DB"]}},
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    USE_TZ=True,
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": ("rest_framework_simplejwt.authentication.JWTAuthentication",),
    },
    SIMPLE_JWT={
        "SIGNING_KEY": os.environ["REF_SIGNING_KEY"],
        "ALGORITHM": "HS256",
        "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
        "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
        "ROTATE_REFRESH_TOKENS": False,
        "BLACKLIST_AFTER_ROTATION": True,
        "AUTH_TOKEN_CLASSES": AUTH_TOKEN_CLASSES,
        **CLAIM_SETTINGS,
    },
)
django.setup()
