"""The admin, an upload view and a streamed download."""

import hashlib

from django.contrib import admin
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def upload(request):
    """Each uploaded file's size and SHA-256, read through ``request.FILES``."""
    if request.method != "POST":
        return HttpResponse(status=405)
    files = {}
    for name, uploaded in request.FILES.items():
        digest = hashlib.sha256()
        for chunk in uploaded.chunks():
            digest.update(chunk)
        files[name] = {"size": uploaded.size, "sha256": digest.hexdigest()}
    return JsonResponse({"files": files, "fields": dict(request.POST.items())})


def download(request):
    """``mib`` MiB streamed in 64 KiB pieces (StreamingHttpResponse)."""
    size = int(float(request.GET.get("mib", "50")) * 1024 * 1024)
    block = b"d" * 65536

    def pieces():
        left = size
        while left > 0:
            yield block[:left]
            left -= len(block)
    response = StreamingHttpResponse(pieces(), content_type="application/octet-stream")
    response["Content-Length"] = str(size)
    return response


@csrf_exempt
def refuse(request):
    """An early answer: 401 without reading the body (a login wall in front of an upload)."""
    return HttpResponse("log in first\n", status=401, content_type="text/plain")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("upload/", upload),
    path("download/", download),
    path("refuse/", refuse),
]
