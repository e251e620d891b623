"""The WSGI application fasth2 serves: ``tests.django_site.wsgi:application``, Django's
handler under ``wsgiref.validate.validator`` (PEP 3333 checked on both sides)."""

import os
from wsgiref.validate import validator

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django_site.settings")
application = validator(get_wsgi_application())
