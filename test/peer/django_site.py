"""A Django site for test/import-django.test.ts: the auth app only, on SQLite, with one password hasher.

A trimmed copy of shared/peers/simplejwt/refsite.py (the project's reference peer: Django 3.2 from
Debian's packages), kept in the repository so that the test needs nothing outside it.
Environment: REF_DB (SQLite file), REF_HASHER (a hasher's dotted path; PBKDF2 by default).

    REF_DB=/tmp/django.sqlite3 /usr/bin/python3 django_site.py migrate
    REF_DB=/tmp/django.sqlite3 /usr/bin/python3 django_site.py adduser USERNAME PASSWORD
    REF_DB=/tmp/django.sqlite3 /usr/bin/python3 django_site.py shell -c 'PYTHON'
"""
import os
import sys

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="reference-only-not-secret",
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
    MIDDLEWARE=[],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["REF_DB"]}},
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    USE_TZ=True,
    PASSWORD_HASHERS=[os.environ.get("REF_HASHER", "django.contrib.auth.hashers.PBKDF2PasswordHasher")],
)
django.setup()

if __name__ == "__main__":
    if sys.argv[1:2] == ["adduser"]:  # adduser USERNAME PASSWORD
        from django.contrib.auth.models import User

        User.objects.create_user(sys.argv[2], password=sys.argv[3])
    else:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
